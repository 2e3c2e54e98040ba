/**
 * DICOMweb latencies through the HTTP API (in-process server, a bearer token of a real user): WADO-RS
 * frames beside Deep Zoom tiles of the same stored tiles, metadata, QIDO searches the database
 * narrows (UID, accession, patient ID pattern) and one it cannot (a walk of the whole library),
 * with CMU-1-Small-Region.svs from ../shared/slides and N more slides known to the database.
 *
 *   node scripts/bin/run.mjs scripts/bench/dicomweb.ts        (N=10000 by default; N=… to change)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp, createHandler, createServerContext } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { MAX_SLIDES_EXAMINED } from '../../server/dicomweb/service.ts';
import { ingest } from '../../tiles/index.ts';
import { userWithToken } from '../../tests/helpers/auth.ts';
import { requireSlides, slidePath } from '../../tests/helpers/slides.ts';

if (!requireSlides()) process.exit(0);

const dir = mkdtempSync(path.join(tmpdir(), 'tessera-bench-dicomweb-'));
const ctx = await createServerContext(
  loadConfig({ dataDir: path.join(dir, 'data'), port: 0, host: '127.0.0.1' }, {}),
  () => {},
);
const u = await userWithToken(ctx.db, { name: 'p', role: 'pathologist', siteId: 'north' });
const { manifest: m } = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), ctx.store, {
  tileSize: 256,
  jpegQuality: 92,
});
await ctx.slides.register(m, 'north');
const c = await ctx.cases.create({
  accession: 'H26-0042',
  siteId: 'north',
  specimenType: 'biopsy',
  subspecialty: 'gi',
  priority: 'routine',
  receivedAt: '2026-03-02',
});
await ctx.cases.attachSlide(c.id, m.id);
const N = Number(process.env.N ?? 10000);
// N more slides known to the database (QIDO at study level reads no pixels), a case each for a tenth.
const now = Date.now();
for (let i = 0; i < N; i += 500) {
  const rows = [],
    sites = [];
  for (let j = i; j < Math.min(N, i + 500); j++) {
    const id = `f${j.toString(16).padStart(31, '0')}`;
    const at = new Date(now - j * 1000).toISOString();
    rows.push({
      id,
      name: `S-${j}`,
      source_format: 'generic-tiff',
      width: 1000,
      height: 1000,
      tile_size: 256,
      levels: 3,
      mpp_x: null,
      mpp_y: null,
      objective_power: null,
      associated: '[]',
      created_at: at,
      site_id: 'north',
      stain: null,
    });
    sites.push({
      slide_id: id,
      site_id: 'north',
      name: `S-${j}`,
      created_at: at,
      uploaded_by: null,
      stain: null,
    });
  }
  await ctx.db.insertInto('slides').values(rows).execute();
  await ctx.db.insertInto('slide_sites').values(sites).execute();
}
const server = createServer(createHandler(ctx, createApp(ctx)));
server.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const get = (p: string, accept?: string) =>
  fetch(`${base}${p}`, { headers: { authorization: `Bearer ${u.token}`, ...(accept ? { accept } : {}) } });
async function time(label: string, n: number, mk: (i: number) => string, accept?: string) {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const r = await get(mk(i), accept);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${label} ${r.status}`);
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  const q = (f: number) => t[Math.min(t.length - 1, Math.floor(f * t.length))]!.toFixed(2);
  console.log(`${label.padEnd(58)} n=${n} p50 ${q(0.5)} ms  p95 ${q(0.95)} ms  p99 ${q(0.99)} ms`);
}
const studies = (await (await get(`/dicomweb/studies?AccessionNumber=H26-0042`)).json()) as Record<
  string,
  { Value: string[] }
>[];
const st = studies[0]!['0020000D']!.Value[0];
const inst = (await (await get(`/dicomweb/studies/${st}/instances?ImageType=VOLUME`)).json()) as Record<
  string,
  { Value: unknown[] }
>[];
const l0 = inst.find((i) => i['00480006']!.Value[0] === m.width)!;
const se = l0['0020000E']!.Value[0],
  sop = l0['00080018']!.Value[0];
const frames = Number(l0['00280008']!.Value[0]);
const l = m.levelInfo[0]!;
const top = Math.ceil(Math.log2(Math.max(m.width, m.height)));
console.log(`slides in the library: ${N + 1}; level 0 ${l.tilesX}x${l.tilesY} tiles`);
// Warm: every tile once.
await time(
  'warm-up: every level-0 frame once',
  frames,
  (i) => `/dicomweb/studies/${st}/series/${se}/instances/${sop}/frames/${i + 1}`,
);
await time('DZI tile (stored, cached) ', 1000, (i) => {
  const k = i % frames;
  return `/slides/${m.id}_files/${top}/${k % l.tilesX}_${Math.floor(k / l.tilesX)}.jpeg`;
});
await time(
  'WADO-RS frames/n (stored, cached)',
  1000,
  (i) => `/dicomweb/studies/${st}/series/${se}/instances/${sop}/frames/${(i % frames) + 1}`,
);
await time(
  'WADO-RS frames/1..20 (20 parts)',
  100,
  () =>
    `/dicomweb/studies/${st}/series/${se}/instances/${sop}/frames/${Array.from({ length: 20 }, (_, k) => k + 1).join(',')}`,
);
await time(
  'WADO-RS instance metadata (level 0)',
  200,
  () => `/dicomweb/studies/${st}/series/${se}/instances/${sop}/metadata`,
);
await time('WADO-RS study metadata (7 instances)', 100, () => `/dicomweb/studies/${st}/metadata`);
await time('QIDO /studies?limit=100 (first page)', 50, () => `/dicomweb/studies?limit=100`);
await time('QIDO /studies?limit=100&offset=5000', 20, () => `/dicomweb/studies?limit=100&offset=5000`);
await time('QIDO /studies?AccessionNumber=H26-0042', 100, () => `/dicomweb/studies?AccessionNumber=H26-0042`);
await time('QIDO /studies?StudyInstanceUID=…', 100, () => `/dicomweb/studies?StudyInstanceUID=${st}`);
await time('QIDO /studies?PatientID=ZZ* (no match, SQL LIKE)', 20, () => '/dicomweb/studies?PatientID=ZZ*');
await time(
  `QIDO /studies?StudyDescription=ZZ* (no match: walks ${Math.min(N + 1, MAX_SLIDES_EXAMINED)})`,
  5,
  () => '/dicomweb/studies?StudyDescription=ZZ*',
);
await time('QIDO /studies/{uid}/instances (7 instances)', 100, () => `/dicomweb/studies/${st}/instances`);
await time('WADO-RS thumbnail (cached after first)', 50, () => `/dicomweb/studies/${st}/thumbnail`);
server.close();
await ctx.tiles.close();
await ctx.db.destroy();
rmSync(dir, { recursive: true, force: true });
