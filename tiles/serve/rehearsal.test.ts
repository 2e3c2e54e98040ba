import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rehearseSourceServing } from './rehearsal.ts';

describe('rehearsing source serving at start', () => {
  const made: string[] = [];
  afterAll(async () => {
    for (const d of made) await rm(d, { recursive: true, force: true });
  });

  it('serves a small slide from its source and leaves nothing behind', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'rehearsal-test-'));
    made.push(dir);
    const ms = await rehearseSourceServing(dir);
    expect(ms).toBeGreaterThan(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it('fails where it cannot make its slide, and leaves nothing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'rehearsal-test-'));
    made.push(dir);
    await writeFile(path.join(dir, 'file'), '');
    // A folder under a regular file: no one, root included, can make it.
    await expect(rehearseSourceServing(path.join(dir, 'file', 'sub'))).rejects.toThrow(/ENOTDIR/);
    expect(await readdir(dir)).toEqual(['file']);
  });
});
