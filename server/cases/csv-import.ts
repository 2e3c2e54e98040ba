import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { type ImportReport, PRIORITIES, type Priority, SUBSPECIALTIES } from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import type { CasesTable } from '../db/schema.ts';
import { HttpError } from '../http/errors.ts';

const DAY = 86_400_000;

/**
 * What one case CSV import may hold. A field's limit is its database column's width (PostgreSQL
 * refuses longer values), so a long field is a bad row in the report, never a failed insert.
 */
export const CSV_IMPORT_LIMITS = {
  /** Request body, bytes. */
  bodyBytes: 10 * 1024 * 1024,
  /** Data rows (blank lines not counted); over it the file is refused before anything is stored. */
  rows: 200_000,
  /** Characters per field, after trimming. */
  fields: { accession: 40, site: 48, specimen: 40, subspecialty: 24, priority: 8, received: 10 },
  /** Bad rows listed one by one; the rest are counted in one last entry. */
  listedErrors: 1000,
};
export type CsvImportLimits = typeof CSV_IMPORT_LIMITS;

/** Rows checked and stored per transaction, with a turn of the event loop between batches. */
const BATCH = 100;
/** Input characters parsed between turns of the event loop (one huge quoted field included). */
const PARSE_SLICE = 64 * 1024;

const DELIMITER = /[,\r\n]/g;

/** Index of the next `,`, CR or LF at or after `from` (text.length when none). */
function nextDelimiter(text: string, from: number): number {
  DELIMITER.lastIndex = from;
  return DELIMITER.exec(text)?.index ?? text.length;
}

/**
 * RFC 4180 records (quoted fields, doubled quotes, CRLF or LF), one at a time; `null` now and then
 * between records and inside long ones, where the caller may give the event loop a turn.
 */
export function* csvRecords(text: string): Generator<string[] | null> {
  const n = text.length;
  let i = 0;
  let pausedAt = 0;
  let row: string[] = [];
  while (i < n) {
    let field: string;
    if (text[i] === '"') {
      let out = '';
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) {
          out += text.slice(j);
          j = n;
          break;
        }
        out += text.slice(j, q);
        if (text[q + 1] === '"') {
          out += '"';
          j = q + 2;
        } else {
          j = q + 1;
          break;
        }
        if (j - pausedAt > PARSE_SLICE) {
          pausedAt = j;
          yield null;
        }
      }
      // Anything between the closing quote and the delimiter is kept, as the old parser did.
      const end = nextDelimiter(text, j);
      field = out + text.slice(j, end);
      i = end;
    } else {
      const end = nextDelimiter(text, i);
      field = text.slice(i, end);
      i = end;
    }
    row.push(field);
    if (i >= n) break;
    if (text[i] === ',') {
      i++;
      if (i >= n) row.push('');
      continue;
    }
    i += text[i] === '\r' && text[i + 1] === '\n' ? 2 : 1;
    yield row;
    row = [];
    if (i - pausedAt > PARSE_SLICE) {
      pausedAt = i;
      yield null;
    }
  }
  if (row.length > 0) yield row;
}

/** Every record of a small CSV at once. */
export function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  for (const r of csvRecords(text)) if (r) out.push(r);
  return out;
}

const blank = (r: string[]): boolean => r.length === 1 && r[0]!.trim() === '';

/** A value as shown in a message: quoted, and cut short so a long field does not fill the report. */
const shown = (v: string): string => JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);

type Columns = Record<keyof CsvImportLimits['fields'], number>;

function columnsOf(header: string[]): Columns | string {
  const names = header.map((h) =>
    h
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, '_'),
  );
  const col = (aliases: string[]): number => names.findIndex((h) => aliases.includes(h));
  const idx: Columns = {
    accession: col(['accession', 'accession_number']),
    site: col(['site', 'site_id']),
    specimen: col(['specimen', 'specimen_type']),
    subspecialty: col(['subspecialty']),
    priority: col(['priority']),
    received: col(['received_date', 'received', 'received_at']),
  };
  const missing = Object.entries(idx)
    .filter(([, i]) => i < 0)
    .map(([k]) => k);
  return missing.length ? `header lacks column(s): ${missing.join(', ')}` : idx;
}

interface GoodRow {
  row: number;
  values: Omit<CasesTable, 'id' | 'created_at' | 'updated_at'>;
}

/** One data row checked against everything but the database: the case to store, or its problems. */
function checkRow(
  r: string[],
  idx: Columns,
  ctx: {
    sites: Set<string>;
    seen: Set<string>;
    limits: CsvImportLimits;
    targetDays: Record<Priority, number>;
  },
): GoodRow['values'] | string {
  const v = (k: keyof Columns): string => (r[idx[k]] ?? '').trim();
  const tooLong = (Object.keys(idx) as (keyof Columns)[]).filter((k) => v(k).length > ctx.limits.fields[k]);
  // Checked first: nothing else reads (or repeats back) a field past its limit.
  if (tooLong.length)
    return tooLong
      .map((k) => `${k} is ${v(k).length} characters (at most ${ctx.limits.fields[k]})`)
      .join('; ');
  const problems: string[] = [];
  const accession = v('accession');
  if (!/^[A-Za-z0-9][A-Za-z0-9/_.-]*$/.test(accession))
    problems.push(`accession ${shown(accession)} is not valid`);
  else if (ctx.seen.has(accession)) problems.push(`accession ${accession} appears twice in the file`);
  const site = v('site');
  if (!ctx.sites.has(site)) problems.push(`unknown site ${shown(site)}`);
  const specimen = v('specimen').toLowerCase().replace(/\s+/g, '_');
  if (!specimen) problems.push('specimen is empty');
  const sub = v('subspecialty').toLowerCase();
  if (!(SUBSPECIALTIES as readonly string[]).includes(sub))
    problems.push(`subspecialty ${shown(sub)} is not one of ${SUBSPECIALTIES.join(', ')}`);
  const pr = v('priority').toLowerCase();
  if (!(PRIORITIES as readonly string[]).includes(pr))
    problems.push(`priority ${shown(pr)} is not urgent or routine`);
  const rec = v('received');
  const t = /^\d{4}-\d{2}-\d{2}$/.test(rec) ? Date.parse(`${rec}T00:00:00Z`) : Number.NaN;
  if (!Number.isFinite(t)) problems.push(`received_date ${shown(rec)} is not a date (YYYY-MM-DD)`);
  else if (t > Date.now() + DAY) problems.push(`received_date ${rec} is in the future`);
  if (problems.length) return problems.join('; ');
  ctx.seen.add(accession);
  return {
    accession,
    site_id: site,
    specimen_type: specimen,
    subspecialty: sub,
    priority: pr,
    received_at: new Date(t).toISOString(),
    target_days: ctx.targetDays[pr as Priority],
    status: 'received',
    assigned_to: null,
    reported_at: null,
  };
}

/** Data rows of a file (blank lines not counted), stopping once past `max`. */
async function countRows(text: string, max: number): Promise<number> {
  let rows = -1;
  for (const r of csvRecords(text)) {
    if (r === null) await yieldToEventLoop();
    else if (!blank(r) && ++rows > max) break;
  }
  return rows;
}

/**
 * Store a batch: accessions already in the database are reported, the rest inserted in one
 * statement; one taken meanwhile by another import is skipped by the database and reported too.
 */
async function storeBatch(
  db: Db,
  batch: GoodRow[],
  report: (row: number, message: string) => void,
): Promise<number> {
  if (batch.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const taken = new Set(
      (
        await trx
          .selectFrom('cases')
          .select('accession')
          .where(
            'accession',
            'in',
            batch.map((g) => g.values.accession),
          )
          .execute()
      ).map((r) => r.accession),
    );
    const fresh = batch.filter((g) => !taken.has(g.values.accession));
    const now = new Date().toISOString();
    const stored = new Set(
      fresh.length === 0
        ? []
        : (
            await trx
              .insertInto('cases')
              .values(fresh.map((g) => ({ id: randomUUID(), ...g.values, created_at: now, updated_at: now })))
              .onConflict((oc) => oc.column('accession').doNothing())
              .returning('accession')
              .execute()
          ).map((r) => r.accession),
    );
    for (const g of batch)
      if (!stored.has(g.values.accession)) report(g.row, `case ${g.values.accession} already exists`);
    return stored.size;
  });
}

/**
 * Rows `accession,site,specimen,subspecialty,priority,received_date` (a header row first, columns in
 * any order). Every valid row is stored, BATCH rows per transaction with a turn of the event loop
 * between batches; each bad row is reported with its row number and reason. A file over the row
 * limit is refused whole (413 IMPORT_TOO_LARGE).
 */
export async function importCasesCsv(
  db: Db,
  text: string,
  targetDays: Record<Priority, number>,
  limits: CsvImportLimits = CSV_IMPORT_LIMITS,
): Promise<ImportReport> {
  // Newlines bound the rows from above: only a file that might be over the limit is counted exactly.
  let newlines = 0;
  for (let i = text.indexOf('\n'); i >= 0 && newlines <= limits.rows + 1; i = text.indexOf('\n', i + 1))
    newlines++;
  if (newlines > limits.rows) {
    const rows = await countRows(text, limits.rows);
    if (rows > limits.rows)
      throw new HttpError('IMPORT_TOO_LARGE', `Expected at most ${limits.rows} rows in one CSV import`);
  }
  const errors: ImportReport['errors'] = [];
  let unlisted = 0;
  let firstUnlisted = 0;
  const report = (row: number, message: string): void => {
    if (errors.length < limits.listedErrors) errors.push({ row, message });
    else if (unlisted++ === 0) firstUnlisted = row;
  };
  const records = csvRecords(text);
  let header: string[] | null = null;
  // next(), not for-of with break: leaving a for-of closes the generator.
  for (let r = records.next(); !r.done; r = records.next()) {
    if (r.value === null) await yieldToEventLoop();
    else {
      header = r.value;
      break;
    }
  }
  if (!header) return { imported: 0, errors: [{ row: 1, message: 'empty file' }] };
  const idx = columnsOf(header);
  if (typeof idx === 'string') return { imported: 0, errors: [{ row: 1, message: idx }] };
  const ctx = {
    sites: new Set((await db.selectFrom('sites').select('id').execute()).map((s) => s.id)),
    seen: new Set<string>(),
    limits,
    targetDays,
  };
  let imported = 0;
  let row = 1;
  let batch: GoodRow[] = [];
  let checked = 0;
  const flush = async (): Promise<void> => {
    imported += await storeBatch(db, batch, report);
    batch = [];
    checked = 0;
    await yieldToEventLoop();
  };
  for (const r of records) {
    if (r === null) {
      await yieldToEventLoop();
      continue;
    }
    row++;
    if (blank(r)) continue;
    const c = checkRow(r, idx, ctx);
    if (typeof c === 'string') report(row, c);
    else batch.push({ row, values: c });
    if (++checked >= BATCH) await flush();
  }
  await flush();
  errors.sort((a, b) => a.row - b.row);
  if (unlisted > 0) errors.push({ row: firstUnlisted, message: `${unlisted} more bad rows (not listed)` });
  return { imported, errors };
}
