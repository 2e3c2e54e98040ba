import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSlideStore, SlideError, ingest, ingestIsolated } from '../tiles/index.ts';
import { makeBadInputs } from './helpers/fixtures.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
let root = '';
let dataDir = '';
let store: LocalSlideStore;
let bad: Record<string, string> = {};

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'tessera-bad-'));
  dataDir = path.join(root, 'data');
  store = new LocalSlideStore(dataDir);
  bad = makeBadInputs(path.join(root, 'inputs'), have ? slidePath('aperio/CMU-1-Small-Region.svs') : null);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function failure(input: string): Promise<SlideError> {
  const e = await ingest(input, store, { tileSize: 256, jpegQuality: 90 }).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'ingest must fail').toBeInstanceOf(SlideError);
  return e as SlideError;
}

/** Nothing visible in the store and no staging area left over. */
async function nothingStored(): Promise<void> {
  expect(await store.list()).toEqual([]);
  const tmp = path.join(dataDir, 'tmp');
  if (existsSync(tmp)) expect(readdirSync(tmp)).toEqual([]);
}

describe('bad input gets a specific error and stores nothing', () => {
  it('a zero-byte file: EMPTY_FILE', async () => {
    const e = await failure(bad.empty!);
    expect(e.code).toBe('EMPTY_FILE');
    expect(e.message).toMatch(/empty/);
    await nothingStored();
  });

  it('a text file named .svs: NOT_AN_IMAGE', async () => {
    const e = await failure(bad.notAnImage!);
    expect(e.code).toBe('NOT_AN_IMAGE');
    await nothingStored();
  });

  it('a plain PNG: UNSUPPORTED_FORMAT naming what it is', async () => {
    const e = await failure(bad.png!);
    expect(e.code).toBe('UNSUPPORTED_FORMAT');
    expect(e.message).toMatch(/PNG/);
    await nothingStored();
  });

  it('a TIFF whose header claims 10^6 x 10^6 pixels: IMAGE_TOO_LARGE, at once', async () => {
    const t0 = Date.now();
    const e = await failure(bad.hugeHeader!);
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.message).toMatch(/1000000/);
    expect(Date.now() - t0).toBeLessThan(5000);
    await nothingStored();
  });

  it('a missing file: NOT_FOUND', async () => {
    const e = await failure(path.join(root, 'no-such-slide.svs'));
    expect(e.code).toBe('NOT_FOUND');
  });

  it.skipIf(!have)('a truncated SVS: TRUNCATED_FILE or CORRUPT_FILE with a one-line reason', async () => {
    const e = await failure(bad.truncated!);
    expect(['TRUNCATED_FILE', 'CORRUPT_FILE']).toContain(e.code);
    expect(e.message).not.toMatch(/\n/);
    expect(e.message.length).toBeGreaterThan(10);
    await nothingStored();
  });

  it.skipIf(!have)('a file name with spaces and brackets is ingested under that name', async () => {
    const { manifest } = await ingest(bad.spaces!, store, { tileSize: 256, jpegQuality: 90 });
    expect(manifest.name).toBe('my slide (copy) [2]');
    expect(manifest.width).toBe(2220);
    await store.remove(manifest.id);
    await nothingStored();
  });
});

describe.skipIf(!have)('a conversion killed midway leaves nothing and does not block a retry', () => {
  it('abort during the pyramid write, then ingest again', async () => {
    const input = slidePath('hamamatsu/orbit-test3-DAPI-387.ndpi');
    const ac = new AbortController();
    const killed = await ingestIsolated(input, {
      dataDir,
      tileSize: 256,
      jpegQuality: 90,
      sharpConcurrency: 2,
      signal: ac.signal,
      onProgress: (percent) => {
        if (percent >= 3) ac.abort();
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(killed).toBeInstanceOf(SlideError);
    expect(await store.list()).toEqual([]);
    // What the killed process left in tmp is invisible, and swept on the next start.
    await store.sweep();
    await nothingStored();
    const { manifest, created } = await ingestIsolated(input, {
      dataDir,
      tileSize: 256,
      jpegQuality: 90,
      sharpConcurrency: 2,
    });
    expect(created).toBe(true);
    expect(manifest.width).toBe(3968);
    expect((await store.list()).map((m) => m.id)).toEqual([manifest.id]);
  });
});
