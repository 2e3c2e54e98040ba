import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSite } from '../auth/users.ts';
import { type Db, openDb } from '../db/index.ts';
import { CSV_IMPORT_LIMITS, importCasesCsv, parseCsv } from './csv-import.ts';

describe('csvRecords (csv-parse)', () => {
  const fields = async (text: string) => (await parseCsv(text)).map((r) => ('fields' in r ? r.fields : r));

  it('reads RFC 4180: quoted fields with commas, doubled quotes and line breaks; CRLF, LF or both; blank lines', async () => {
    const text = 'a,b,c\r\n"x, y","say ""hi""","two\nlines"\n\n1,,3,\n"",last';
    expect(await fields(text)).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', 'two\nlines'],
      [''],
      ['1', '', '3', ''],
      ['', 'last'],
    ]);
    expect(await fields('one\n')).toEqual([['one']]);
    expect(await fields('\uFEFFaccession,site\r1,2')).toEqual([
      ['accession', 'site'],
      ['1', '2'],
    ]);
    expect(await fields('')).toEqual([]);
  });

  it('keeps a stray quote as text, and says so when a quoted field is never closed', async () => {
    expect(await fields('"closed"late,x\nok,1')).toEqual([
      ['"closed"late', 'x'],
      ['ok', '1'],
    ]);
    expect(await fields('a,b\n"never closed,\nstill open')).toEqual([
      ['a', 'b'],
      { error: 'a quoted field is never closed (a " is missing)' },
    ]);
  });

  it('gives the event loop turns while it reads, also inside one huge quoted field', async () => {
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const huge = `a,"${'x""'.repeat(400_000)}"\nb,c\n`;
    const records = await parseCsv(huge);
    counting = false;
    expect(turns).toBeGreaterThanOrEqual(4);
    expect(records[0]).toEqual({ fields: ['a', 'x"'.repeat(400_000)] });
    expect(records[1]).toEqual({ fields: ['b', 'c'] });
  });
});

describe('importCasesCsv row limit', () => {
  let db: Db;
  const days = { urgent: 3, routine: 10 };
  const limits = { ...CSV_IMPORT_LIMITS, rows: 3 };
  const HEADER = 'accession,site,specimen,subspecialty,priority,received_date';
  const row = (i: number) => `L-${i},north,biopsy,gi,urgent,2024-01-02`;

  beforeEach(async () => {
    db = await openDb({ databaseUrl: '', sqliteFile: ':memory:' });
    await createSite(db, { id: 'north', name: 'North' });
  });
  afterEach(async () => {
    await db.destroy();
  });

  it('counts data rows, not blank lines, and refuses a file over the limit before storing any of it', async () => {
    const spaced = [HEADER, row(1), '', row(2), '', '', row(3), ''].join('\n');
    expect(await importCasesCsv(db, spaced, days, limits)).toEqual({ imported: 3, errors: [] });
    const over = [HEADER, row(4), row(5), row(6), row(7)].join('\n');
    await expect(importCasesCsv(db, over, days, limits)).rejects.toMatchObject({
      code: 'IMPORT_TOO_LARGE',
      status: 413,
    });
    const stored = await db.selectFrom('cases').select('accession').execute();
    expect(stored.map((c) => c.accession).sort()).toEqual(['L-1', 'L-2', 'L-3']);
  });
});
