import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSite } from '../auth/users.ts';
import { type Db, openDb } from '../db/index.ts';
import { CSV_IMPORT_LIMITS, csvRecords, importCasesCsv, parseCsv } from './csv-import.ts';

describe('csvRecords', () => {
  it('reads RFC 4180: quoted fields with commas, doubled quotes and line breaks; CRLF or LF; blank lines', () => {
    const text = 'a,b,c\r\n"x, y","say ""hi""","two\nlines"\n\n1,,3,\n"",last';
    expect(parseCsv(text)).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', 'two\nlines'],
      [''],
      ['1', '', '3', ''],
      ['', 'last'],
    ]);
    expect(parseCsv('one\n')).toEqual([['one']]);
    expect(parseCsv('"closed"late,x')).toEqual([['closedlate', 'x']]);
    expect(parseCsv('"never closed,\nstill open')).toEqual([['never closed,\nstill open']]);
    expect(parseCsv('')).toEqual([]);
  });

  it('pauses now and then, between records and inside one huge quoted field', () => {
    const many = 'ACC,north,biopsy,gi,urgent,2024-01-02\n'.repeat(30_000);
    const pauses = (t: string) => [...csvRecords(t)].filter((r) => r === null).length;
    expect(pauses(many)).toBeGreaterThanOrEqual(4);
    const huge = `a,"${'x""'.repeat(400_000)}"\nb,c\n`;
    expect(pauses(huge)).toBeGreaterThanOrEqual(4);
    expect(parseCsv(huge)[0]![1]).toHaveLength(800_000);
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
