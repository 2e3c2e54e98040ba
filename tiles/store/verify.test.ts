import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/index.ts';
import { smallManifest } from '../../tests/helpers/manifest.ts';
import { sha256File } from '../ingest/hash.ts';
import { LocalSlideStore } from './local.ts';
import { verifySlide, verifyStore } from './verify.ts';

const A = 'a1'.repeat(16);
const B = 'b2'.repeat(16);
const BIN = path.resolve('scripts/bin/tessera.mjs');

let root = '';
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'tessera-verify-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/**
 * A stored slide written by hand the way ingest lays it out: a real tiled TIFF and associated JPEGs,
 * and a manifest whose `files` holds each one's SHA-256 and size (none with `checksums: false`).
 */
async function storeSlide(id: string, opts: { checksums?: boolean } = {}): Promise<string> {
  const dir = path.join(root, 'slides', id);
  mkdirSync(dir, { recursive: true });
  const image = sharp({ create: { width: 300, height: 200, channels: 3, background: '#c05080' } });
  await image
    .clone()
    .jpeg()
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg' })
    .toFile(path.join(dir, 'slide.tif'));
  await image.clone().resize(100).jpeg().toFile(path.join(dir, 'thumbnail.jpg'));
  await image.clone().resize(60).jpeg().toFile(path.join(dir, 'label.jpg'));
  const files: Manifest['files'] = {};
  if (opts.checksums !== false) {
    for (const f of ['slide.tif', 'thumbnail.jpg', 'label.jpg'])
      files[f] = await sha256File(path.join(dir, f));
  }
  const manifest = smallManifest(id, { associated: ['label', 'thumbnail'], files });
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

function flipByte(file: string, at: number): void {
  const buf = readFileSync(file);
  buf[at] = buf[at]! ^ 0xff;
  writeFileSync(file, buf);
}

function tessera(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('verifying the store against the manifests', () => {
  it('a slide whose files match their recorded SHA-256 and size is ok', async () => {
    await storeSlide(A);
    const r = await verifySlide(new LocalSlideStore(root), A);
    expect(r).toMatchObject({ id: A, name: `slide-${A.slice(0, 4)}`, status: 'ok', error: null });
    expect(r.mismatched).toEqual([]);
    expect(r.missing).toEqual([]);
    expect(r.extra).toEqual([]);
    expect(r.bytesHashed).toBeGreaterThan(0);
  });

  it('one flipped byte in slide.tif fails the slide, naming the file with recorded and actual digests', async () => {
    const dir = await storeSlide(A);
    const before = await sha256File(path.join(dir, 'slide.tif'));
    flipByte(path.join(dir, 'slide.tif'), 1000);
    const r = await verifySlide(new LocalSlideStore(root), A);
    expect(r.status).toBe('failed');
    expect(r.mismatched).toHaveLength(1);
    const m = r.mismatched[0]!;
    expect(m.file).toBe('slide.tif');
    expect(m.expected).toEqual(before);
    expect(m.actual.bytes).toBe(before.bytes);
    expect(m.actual.sha256).not.toBe(before.sha256);
  });

  it('a deleted associated image is reported missing and fails the slide', async () => {
    const dir = await storeSlide(A);
    unlinkSync(path.join(dir, 'label.jpg'));
    const r = await verifySlide(new LocalSlideStore(root), A);
    expect(r.status).toBe('failed');
    expect(r.missing).toEqual(['label.jpg']);
    expect(r.mismatched).toEqual([]);
  });

  it('a file the manifest does not name fails the slide as extra', async () => {
    const dir = await storeSlide(A);
    writeFileSync(path.join(dir, 'macro.jpg'), 'not recorded');
    const r = await verifySlide(new LocalSlideStore(root), A);
    expect(r.status).toBe('failed');
    expect(r.extra).toEqual(['macro.jpg']);
  });

  it('a manifest with no checksums (stored before they were kept) is unchecked, but missing files still fail', async () => {
    const dir = await storeSlide(A, { checksums: false });
    const store = new LocalSlideStore(root);
    expect((await verifySlide(store, A)).status).toBe('unchecked');
    unlinkSync(path.join(dir, 'slide.tif'));
    const r = await verifySlide(store, A);
    expect(r.status).toBe('failed');
    expect(r.missing).toEqual(['slide.tif']);
  });

  it('a missing or unreadable manifest is a failed slide, not an error that stops the run', async () => {
    const a = await storeSlide(A);
    const b = await storeSlide(B);
    unlinkSync(path.join(a, 'manifest.json'));
    writeFileSync(path.join(b, 'manifest.json'), '{ cut sh');
    const results = await verifyStore(new LocalSlideStore(root));
    expect(results.map((r) => [r.id, r.status, r.error])).toEqual([
      [A, 'failed', 'manifest.json missing'],
      [B, 'failed', 'manifest.json is not valid JSON'],
    ]);
  });

  it('a manifest file name that leaves the slide folder is refused, not read', async () => {
    const dir = await storeSlide(A);
    const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    m.files['../../secret'] = { bytes: 1, sha256: '0'.repeat(64) };
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
    const r = await verifySlide(new LocalSlideStore(root), A);
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/outside the slide/);
    expect(r.bytesHashed).toBe(0);
  });

  it('verifyStore checks every slide folder in id order and reports progress in bytes', async () => {
    await storeSlide(B);
    await storeSlide(A);
    let last = { doneBytes: 0, totalBytes: 0 };
    const results = await verifyStore(new LocalSlideStore(root), undefined, {
      onProgress: (p) => (last = p),
    });
    expect(results.map((r) => [r.id, r.status])).toEqual([
      [A, 'ok'],
      [B, 'ok'],
    ]);
    expect(last.totalBytes).toBeGreaterThan(0);
    expect(last.doneBytes).toBe(last.totalBytes);
  });
});

describe('tessera verify', () => {
  it('exit 0 when every slide matches, 1 naming the changed file, 2 with one error line for an unknown id', async () => {
    const dir = await storeSlide(A);
    await storeSlide(B, { checksums: false });

    const good = tessera('verify', '--data', root);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    const lines = good.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^OK +${A} `));
    expect(lines[1]).toMatch(new RegExp(`^UNCHECKED +${B} .*no checksums recorded`));
    expect(lines[2]).toMatch(/^2 slides checked .*1 ok, 0 failed, 1 without checksums/);

    // Slides stored before checksums were kept fail only with --strict.
    expect(tessera('verify', '--strict', '--data', root).code).toBe(1);

    flipByte(path.join(dir, 'slide.tif'), 500);
    const bad = tessera('verify', '--data', root, A);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`^FAILED +${A} .*: slide\\.tif changed \\(sha256 `, 'm'));
    expect(bad.stdout).toMatch(/1 slide checked .*0 ok, 1 failed/);

    const json = tessera('verify', '--json', '--data', root);
    expect(json.code).toBe(1);
    const rows = json.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as { id: string; status: string; fails: boolean; mismatched: { file: string }[] },
      );
    expect(rows.map((r) => [r.id, r.status, r.fails])).toEqual([
      [A, 'failed', true],
      [B, 'unchecked', false],
    ]);
    expect(rows[0]!.mismatched.map((m) => m.file)).toEqual(['slide.tif']);

    const unknown = tessera('verify', '--data', root, 'c3'.repeat(16));
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr.split('\n')[0]).toBe(`error: no slide ${'c3'.repeat(16)} in ${root}`);

    const malformed = tessera('verify', '--data', root, 'nope');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr.split('\n')[0]).toBe(
      'error: Expected a slide id (32 hex digits) but received nope',
    );

    const noFolder = tessera('verify', '--data', path.join(root, 'typo'));
    expect(noFolder.code).toBe(2);
    expect(noFolder.stderr.split('\n')[0]).toMatch(/^error: data folder .*typo does not exist$/);

    expect(tessera('verify', '--frobnicate', '--data', root).code).toBe(2);
  });
});
