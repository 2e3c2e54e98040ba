import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { ServerResponse } from 'node:http';
import { open } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { JobDto, SlideDto, UploadAccepted } from '../protocol/index.ts';
import { createApp, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { SourceSlide } from '../tiles/serve/index.ts';
import { TiffFile } from '../tiles/tiff/file.ts';
import { authedFetch, userWithToken } from './helpers/auth.ts';
import { meanAbsDiff, toRgb } from './helpers/pixels.ts';

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
let managerToken = '';
let otherToken = '';
/** A lab manager of site north (uploads, deletes); someone of another site. */
const fetchAs = authedFetch(() => managerToken);
const fetchOther = authedFetch(() => otherToken);

/** A scanner-like pyramidal TIFF (240 px JPEG tiles, levels halving), different for each seed. */
async function pyramidTiff(file: string, width: number, height: number, seed: number): Promise<void> {
  const w = width >> 5;
  const h = height >> 5;
  const small = Buffer.alloc(w * h * 3);
  let s = seed;
  for (let i = 0; i < small.length; i += 3) {
    s = (s * 1103515245 + 12345) >>> 0;
    const v = s >>> 24;
    small[i] = 200 + (v % 50);
    small[i + 1] = 120 + ((v >> 2) % 60);
    small[i + 2] = 170 + ((v >> 3) % 40);
  }
  await sharp(small, { raw: { width: w, height: h, channels: 3 } })
    .resize(width, height, { kernel: 'cubic' })
    .tiff({ tile: true, tileWidth: 240, tileHeight: 240, pyramid: true, compression: 'jpeg', quality: 90 })
    .toFile(file);
}

/** Zero the tiles of the given pages after their SOI: they no longer decode. */
async function spoilTiles(file: string, pages: number[], onlyLast = false): Promise<void> {
  const tf = await TiffFile.open(file);
  const fh = await open(file, 'r+');
  try {
    for (const p of pages) {
      const { offsets, byteCounts } = await tf.ifds[p]!.chunks();
      const from = onlyLast ? offsets.length - 1 : 0;
      for (let i = from; i < offsets.length; i++)
        await fh.write(Buffer.alloc(byteCounts[i]! - 2), 0, byteCounts[i]! - 2, offsets[i]! + 2);
    }
  } finally {
    await fh.close();
    await tf.close();
  }
}

async function upload(file: string, name: string): Promise<UploadAccepted> {
  const res = await fetchAs(`${base}/api/slides?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    body: readFileSync(file),
  });
  expect(res.status).toBe(202);
  // How long the bytes took to arrive and the slide to open, for the client (and bench:open).
  const timing = /^receive;dur=(\d+\.\d);desc="[^"]+", open;dur=(\d+\.\d);desc="[^"]+"$/.exec(
    res.headers.get('server-timing') ?? '',
  );
  expect(timing, res.headers.get('server-timing') ?? 'no Server-Timing').not.toBeNull();
  expect(Number(timing![2])).toBeGreaterThan(0);
  const accepted = (await res.json()) as UploadAccepted;
  // Its audit record is committed with the job's row, before the answer: there once the 202 is in.
  const { entries } = await ctx.audit.query({ action: 'slide.upload', limit: 1000 });
  expect(entries.filter((e) => e.targetId === accepted.jobId).map((e) => e.detail)).toEqual([
    { name: accepted.name, bytes: accepted.bytes },
  ]);
  return accepted;
}

async function waitForJob(id: string): Promise<JobDto> {
  for (let i = 0; i < 600; i++) {
    const job = (await (await fetchAs(`${base}/api/jobs/${id}`)).json()) as JobDto;
    if (job.state === 'done' || job.state === 'failed') {
      // The node notices within a poll.
      await ctx.provisional.poll();
      return job;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not finish`);
}

async function slide(id: string): Promise<SlideDto> {
  const res = await fetchAs(`${base}/api/slides/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as SlideDto;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-open-at-once-'));
  const config = loadConfig({ dataDir, port: 0, host: '127.0.0.1', tileSize: 256, sharpConcurrency: 2 }, {});
  ctx = await createServerContext(config, process.env.DEBUG_LOG ? console.log : () => {});
  managerToken = (await userWithToken(ctx.db, { name: 'lm', role: 'lab_manager', siteId: 'north' })).token;
  otherToken = (await userWithToken(ctx.db, { name: 'path', role: 'pathologist', siteId: 'south' })).token;
  server = createApp(ctx).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await ctx?.queue.idle();
  await ctx?.provisional.close();
  await ctx?.tiles.close();
  await ctx?.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('open at once: an upload is viewable while it converts', () => {
  it('tiles come from the source at once, equal the stored ones after the switch; annotations made meanwhile stay', async () => {
    const file = path.join(dataDir, 'a.tif');
    await pyramidTiff(file, 3000, 2100, 11);
    const accepted = await upload(file, 'slide A.tif');
    const id = accepted.slideId!;
    expect(id).toMatch(/^[0-9a-f]{32}$/);

    // Listed and viewable before the conversion ends.
    const during = await slide(id);
    expect(during.conversion?.state).toBe('converting');
    expect(during).toMatchObject({ width: 3000, height: 2100, tileSize: 240 });
    const list = (await (await fetchAs(`${base}/api/slides`)).json()) as { items?: SlideDto[] } | SlideDto[];
    const items = Array.isArray(list) ? list : (list.items ?? []);
    expect(items.some((s) => s.id === id)).toBe(true);
    const dzi = await (await fetchAs(`${base}/slides/${id}.dzi`)).text();
    const tilePaths = ['12/3/2', '11/2/1', '10/0/0', '8/0/0'];
    const before = new Map<string, { etag: string; body: Buffer }>();
    for (const t of tilePaths) {
      const [level, col, row] = t.split('/');
      const res = await fetchAs(`${base}/slides/${id}_files/${level}/${col}_${row}.jpeg`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('private, no-cache');
      const etag = res.headers.get('etag')!;
      expect(etag).toContain('-src-');
      before.set(t, { etag, body: Buffer.from(await res.arrayBuffer()) });
    }
    // Another site's user sees nothing of it, as for a stored slide.
    expect((await fetchOther(`${base}/slides/${id}_files/10/0_0.jpeg`)).status).toBe(404);
    expect((await fetchOther(`${base}/api/slides/${id}`)).status).toBe(404);
    // Viewing is audited as for a stored slide.
    const views = await ctx.db
      .selectFrom('audit')
      .select(['action', 'detail'])
      .where('target_id', '=', id)
      .where('action', '=', 'slide.view')
      .execute();
    expect(views.length).toBeGreaterThan(0);
    // An annotation made while converting.
    const made = await fetchAs(`${base}/api/slides/${id}/annotations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        kind: 'point',
        geometry: { points: [[1200, 800]] },
        classification: { name: 'Tumor', color: '#f50000' },
        label: 'made during conversion',
      }),
    });
    expect(made.status).toBe(201);
    const annotationsBefore = (await (await fetchAs(`${base}/api/slides/${id}/annotations`)).json()) as {
      annotations: { label: string }[];
    };
    expect(annotationsBefore.annotations.map((a) => a.label)).toEqual(['made during conversion']);

    const job = await waitForJob(accepted.jobId);
    expect(job.state).toBe('done');
    expect(job.slideId).toBe(id);
    const after = await slide(id);
    expect(after.conversion).toBeUndefined();
    expect(ctx.tiles.servesSource(id)).toBe(false);
    // Same geometry; the stored tiles now, other ETags, immutable, the same pixels.
    expect(await (await fetchAs(`${base}/slides/${id}.dzi`)).text()).toBe(dzi);
    for (const t of tilePaths) {
      const [level, col, row] = t.split('/');
      const res = await fetchAs(`${base}/slides/${id}_files/${level}/${col}_${row}.jpeg`, {
        headers: { 'if-none-match': before.get(t)!.etag },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).not.toContain('-src-');
      expect(res.headers.get('cache-control')).toContain('immutable');
      const d = meanAbsDiff(
        await toRgb(sharp(Buffer.from(await res.arrayBuffer()))),
        await toRgb(sharp(before.get(t)!.body)),
      );
      for (const v of d) expect(v).toBeLessThan(3);
    }
    // Nothing lost across the switch.
    expect(await (await fetchAs(`${base}/api/slides/${id}/annotations`)).json()).toEqual(annotationsBefore);
  });

  it("the coarsest tiles are made once the upload's answer is out, not before it", async () => {
    const file = path.join(dataDir, 'w.tif');
    await pyramidTiff(file, 2000, 1500, 55);
    const events: string[] = [];
    const realEnd = ServerResponse.prototype.end;
    const realWarm = SourceSlide.prototype.warm;
    const warm = vi.spyOn(SourceSlide.prototype, 'warm');
    ServerResponse.prototype.end = function (this: ServerResponse, ...args: never[]) {
      if (this.statusCode === 202) events.push('answer');
      return (realEnd as (...a: never[]) => ServerResponse).apply(this, args);
    } as typeof realEnd;
    warm.mockImplementation(function (this: SourceSlide) {
      events.push('warm');
      return realWarm.call(this);
    });
    try {
      const accepted = await upload(file, 'slide W.tif');
      expect(accepted.slideId).toMatch(/^[0-9a-f]{32}$/);
      await expect.poll(() => events.includes('warm')).toBe(true);
      expect(events).toEqual(['answer', 'warm']);
      await waitForJob(accepted.jobId);
    } finally {
      ServerResponse.prototype.end = realEnd;
      warm.mockRestore();
    }
  });

  it('a slide deleted while converting answers 404, and the conversion does not bring it back', async () => {
    const file = path.join(dataDir, 'b.tif');
    await pyramidTiff(file, 2000, 1500, 22);
    const accepted = await upload(file, 'slide B.tif');
    const id = accepted.slideId!;
    expect((await fetchAs(`${base}/slides/${id}_files/9/0_0.jpeg`)).status).toBe(200);
    expect((await fetchAs(`${base}/api/slides/${id}`, { method: 'DELETE' })).status).toBe(204);
    const gone = await fetchAs(`${base}/slides/${id}_files/9/0_0.jpeg`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { code: string }).code).toBe('SLIDE_NOT_FOUND');
    await waitForJob(accepted.jobId);
    expect((await fetchAs(`${base}/api/slides/${id}`)).status).toBe(404);
    expect((await fetchAs(`${base}/slides/${id}.dzi`)).status).toBe(404);
    expect(await ctx.store.manifest(id)).toBeNull();
  });

  it('a conversion that fails leaves the slide served from its source when the source still reads', async () => {
    const file = path.join(dataDir, 'c.tif');
    await pyramidTiff(file, 2000, 1500, 33);
    await spoilTiles(file, [0], true);
    const accepted = await upload(file, 'slide C.tif');
    const id = accepted.slideId!;
    const job = await waitForJob(accepted.jobId);
    expect(job.state).toBe('failed');
    const s = await slide(id);
    expect(s.conversion?.state).toBe('source');
    expect(s.conversion?.reason).toBeTruthy();
    const res = await fetchAs(`${base}/slides/${id}_files/9/0_0.jpeg`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toContain('-src-');
  });

  it('a conversion that fails on a source that cannot be served marks the slide failed: 410', async () => {
    const file = path.join(dataDir, 'd.tif');
    await pyramidTiff(file, 2000, 1500, 44);
    const pages = (await sharp(file).metadata()).pages ?? 1;
    await spoilTiles(
      file,
      Array.from({ length: pages }, (_, i) => i),
    );
    const accepted = await upload(file, 'slide D.tif');
    const id = accepted.slideId!;
    const job = await waitForJob(accepted.jobId);
    expect(job.state).toBe('failed');
    const s = await slide(id);
    expect(s.conversion?.state).toBe('failed');
    expect(s.conversion?.reason).toBe(job.error?.message);
    const tile = await fetchAs(`${base}/slides/${id}_files/9/0_0.jpeg`);
    expect(tile.status).toBe(410);
    expect(((await tile.json()) as { code: string }).code).toBe('SLIDE_FAILED');
    expect((await fetchAs(`${base}/slides/${id}.dzi`)).status).toBe(410);
    expect((await fetchAs(`${base}/iiif/3/${id}/full/200,/0/default.jpg`)).status).toBe(410);
  });
});
