import { randomUUID } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { type CsvError, type Options, parse } from 'csv-parse';
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
/** Input characters handed to the parser between turns of the event loop (one huge field included). */
const PARSE_SLICE = 64 * 1024;

/**
 * How csv-parse reads a case CSV: RFC 4180 (quoted fields, doubled quotes, line breaks in quotes),
 * CRLF, LF or CR line ends even mixed in one file, a leading byte-order mark dropped (spreadsheet
 * exports), rows of any length (a short row is a bad row, not a failed file), a stray quote inside a
 * field kept as text. A record the parser cannot read (a quote never closed) is a bad row.
 */
const PARSE_OPTIONS: Options = {
  bom: true,
  relax_column_count: true,
  relax_quotes: true,
  record_delimiter: ['\r\n', '\n', '\r'],
  skip_empty_lines: false,
  skip_records_with_error: true,
};

/** One record: its fields, or why the parser could not read it. */
export type CsvRecord = { fields: string[] } | { error: string };

/** The parser's reason in a sentence without its line numbers (the report gives the row). */
function parseProblem(e: CsvError): string {
  switch (e.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field is never closed (a " is missing)';
    default:
      return `the row cannot be read as CSV (${e.code})`;
  }
}

/**
 * The records of a CSV text, read by csv-parse a slice at a time with a turn of the event loop
 * between slices, so a 10 MB import leaves the server answering. Blank lines are records of one
 * empty field, so record numbers stay row numbers.
 */
export async function* csvRecords(text: string): AsyncGenerator<CsvRecord> {
  const parser = parse(PARSE_OPTIONS);
  const queue: CsvRecord[] = [];
  let failed: Error | null = null;
  parser.on('data', (fields: string[]) => queue.push({ fields }));
  parser.on('skip', (e: CsvError) => queue.push({ error: parseProblem(e) }));
  parser.on('error', (e: Error) => (failed = e));
  const drain = function* (): Generator<CsvRecord> {
    if (failed) throw failed;
    for (let i = 0; i < queue.length; i++) yield queue[i]!;
    queue.length = 0;
  };
  try {
    for (let i = 0; i < text.length; i += PARSE_SLICE) {
      parser.write(text.slice(i, i + PARSE_SLICE));
      await yieldToEventLoop();
      yield* drain();
    }
    parser.end();
    await finished(parser).catch(() => {});
    yield* drain();
  } finally {
    parser.destroy();
  }
}

/** Every record of a small CSV at once (a record the parser cannot read: its reason). */
export async function parseCsv(text: string): Promise<CsvRecord[]> {
  const out: CsvRecord[] = [];
  for await (const r of csvRecords(text)) out.push(r);
  return out;
}

const blank = (r: CsvRecord): boolean => 'fields' in r && r.fields.length === 1 && r.fields[0]!.trim() === '';

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
  for await (const r of csvRecords(text)) if (!blank(r) && ++rows > max) break;
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
  // next(), not for-await with break: leaving a for-await closes the generator.
  const first = await records.next();
  if (first.done) return { imported: 0, errors: [{ row: 1, message: 'empty file' }] };
  if ('error' in first.value) return { imported: 0, errors: [{ row: 1, message: first.value.error }] };
  const header = first.value.fields;
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
  for (let next = await records.next(); !next.done; next = await records.next()) {
    const r = next.value;
    row++;
    if (blank(r)) continue;
    const c = 'error' in r ? r.error : checkRow(r.fields, idx, ctx);
    if (typeof c === 'string') report(row, c);
    else batch.push({ row, values: c });
    if (++checked >= BATCH) await flush();
  }
  await flush();
  errors.sort((a, b) => a.row - b.row);
  if (unlisted > 0) errors.push({ row: firstUnlisted, message: `${unlisted} more bad rows (not listed)` });
  return { imported, errors };
}
