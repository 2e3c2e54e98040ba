import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalSlideStore, type StoreFs } from './local.ts';

const ID = 'ab'.repeat(16);

let root = '';
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'tessera-store-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** The real file system, with every fsync and rename written down in the order they happen. */
function watchedFs(calls: string[]): StoreFs {
  return {
    async open(file, flags) {
      const h = await fsp.open(file, flags);
      return {
        sync: async () => {
          await h.sync();
          calls.push(`sync ${path.relative(root, file) || '.'}`);
        },
        close: () => h.close(),
      };
    },
    async rename(from, to) {
      await fsp.rename(from, to);
      calls.push(`rename ${path.relative(root, from)} -> ${path.relative(root, to)}`);
    },
  };
}

describe('publishing a slide is durable', () => {
  it('flushes every staged file, then the staging folder, renames, then flushes the slides folder', async () => {
    const calls: string[] = [];
    const store = new LocalSlideStore(root, { fs: watchedFs(calls) });
    const staging = await store.stage();
    const stage = path.relative(root, staging.dir);
    writeFileSync(path.join(staging.dir, 'slide.tif'), 'pixels');
    writeFileSync(path.join(staging.dir, 'thumbnail.jpg'), 'thumb');
    mkdirSync(path.join(staging.dir, 'extra'));
    writeFileSync(path.join(staging.dir, 'extra', 'x.bin'), 'x');
    writeFileSync(path.join(staging.dir, 'manifest.json'), '{}');
    calls.length = 0; // the slides folder's own creation is flushed in stage(); checked below

    const order: string[] = [];
    expect(await staging.commit(ID, { beforePublish: () => void order.push(...calls) })).toBe(true);

    const rename = calls.indexOf(`rename ${stage} -> slides/${ID}`);
    expect(rename).toBeGreaterThan(0);
    const before = calls.slice(0, rename);
    // Each file synced before its folder, the staging folder last, all before the rename.
    for (const f of ['slide.tif', 'thumbnail.jpg', 'manifest.json', 'extra/x.bin'])
      expect(before).toContain(`sync ${stage}/${f}`);
    expect(before.indexOf(`sync ${stage}/extra/x.bin`)).toBeLessThan(before.indexOf(`sync ${stage}/extra`));
    expect(before.at(-1)).toBe(`sync ${stage}`);
    // The hook runs after every flush and before the rename.
    expect(order).toEqual(before);
    expect(calls.slice(rename + 1)).toEqual(['sync slides']);
    expect(readFileSync(path.join(root, 'slides', ID, 'slide.tif'), 'utf8')).toBe('pixels');
  });

  it('the first staging area flushes the data folder that now holds the slides folder', async () => {
    const calls: string[] = [];
    const store = new LocalSlideStore(root, { fs: watchedFs(calls) });
    await (await store.stage()).abort();
    expect(calls).toEqual(['sync .']);
    await (await store.stage()).abort();
    expect(calls).toEqual(['sync .']);
  });

  it('a beforePublish that throws publishes nothing and leaves no staging area', async () => {
    const calls: string[] = [];
    const store = new LocalSlideStore(root, { fs: watchedFs(calls) });
    const staging = await store.stage();
    writeFileSync(path.join(staging.dir, 'manifest.json'), '{}');
    await expect(
      staging.commit(ID, {
        beforePublish: () => {
          throw new Error('caller gone');
        },
      }),
    ).rejects.toThrow('caller gone');
    expect(calls.some((c) => c.startsWith('rename'))).toBe(false);
    expect(await store.has(ID)).toBe(false);
    expect(await fsp.readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it('a slide already published is kept, the second copy discarded', async () => {
    const store = new LocalSlideStore(root);
    for (const content of ['first', 'second']) {
      const s = await store.stage();
      writeFileSync(path.join(s.dir, 'manifest.json'), content);
      await s.commit(ID);
    }
    expect(readFileSync(path.join(root, 'slides', ID, 'manifest.json'), 'utf8')).toBe('first');
    expect(await fsp.readdir(path.join(root, 'tmp'))).toEqual([]);
  });
});

describe.skipIf(!existsSync('/proc/self/stat'))('sweeping what a crash left (Linux)', () => {
  it("removes a dead or zombie process's staging folders and keeps a running one's", async () => {
    // `sh` starts a short child and becomes `sleep`, which never reaps it: a zombie for 5 s.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const zombie = Number(
        await new Promise<string>((r) => parent.stdout.once('data', (d: Buffer) => r(d.toString().trim()))),
      );
      for (let i = 0; i < 100 && !readFileSync(`/proc/${zombie}/stat`, 'utf8').includes(') Z '); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(readFileSync(`/proc/${zombie}/stat`, 'utf8')).toContain(') Z ');
      const tmp = path.join(root, 'tmp');
      const running = `stage-${parent.pid}-a`;
      for (const name of [running, `stage-${zombie}-b`, 'work-999999999-c', 'trash-999999999-d'])
        mkdirSync(path.join(tmp, name), { recursive: true });
      expect(await new LocalSlideStore(root).sweep()).toBe(3);
      expect(await fsp.readdir(tmp)).toEqual([running]);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
