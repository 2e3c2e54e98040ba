/**
 * The slide store contract, run against the local store and against an S3 store on a real Ceph RADOS
 * Gateway (scripts/ceph-rgw), and a slide ingested into the bucket served through the server with
 * the same pixels as from a data folder. Needs Debian's ceph-mon ceph-osd radosgw ceph-common: in
 * CI (CI=true) their absence or a gateway that does not start fails; elsewhere the S3 half skips.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobDto, Manifest, UploadAccepted } from '../protocol/index.ts';
import { smallManifest } from './helpers/manifest.ts';
import { createApp, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { LocalSlideStore, S3SlideStore, type SlideStore, ingest, readStoredFile } from '../tiles/index.ts';
import { TileService } from '../tiles/serve/index.ts';
import { sha256File } from '../tiles/ingest/hash.ts';
import { verifyStore } from '../tiles/store/verify.ts';
import { authedFetch, userWithToken } from './helpers/auth.ts';
import { type Rgw, keysUnder, rawS3, requireRgw, startRgwWithBucket, storeEnv } from './helpers/rgw.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const canRun = requireRgw('the S3 store tests');

const BUCKET = 'tessera-test';
let rgw: Rgw | null = null;
let scratch = '';

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'tessera-s3-'));
  if (!canRun) return;
  rgw = await startRgwWithBucket(BUCKET);
}, 240_000);
afterAll(async () => {
  await rgw?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

function s3Options(prefix: string, extra: Partial<ConstructorParameters<typeof S3SlideStore>[0]> = {}) {
  const r = rgw!;
  return {
    bucket: BUCKET,
    prefix,
    endpoint: r.endpoint,
    region: r.region,
    credentials: { accessKeyId: r.accessKeyId, secretAccessKey: r.secretAccessKey },
    tmpDir: path.join(scratch, `${prefix}-tmp`),
    // Small blocks, cache and end read on open, so reads cross block edges, come partly from the
    // end read and partly from requests, and the cache evicts.
    blockBytes: 16 * 1024,
    cacheBytes: 256 * 1024,
    tailBytes: 40_000,
    ...extra,
  };
}

const ID = 'a1'.repeat(16);
const ID2 = 'b2'.repeat(16);

function manifestFor(id: string, files: Manifest['files']): Manifest {
  return smallManifest(id, { associated: ['thumbnail'], files });
}

/** Stage a slide of random bytes (slide.tif of `bytes`, a thumbnail) with a manifest holding their checksums. */
async function stageSlide(
  store: SlideStore,
  id: string,
  bytes = 300_000,
): Promise<{ staging: Awaited<ReturnType<SlideStore['stage']>>; tif: Buffer }> {
  const staging = await store.stage();
  const tif = randomBytes(bytes);
  writeFileSync(path.join(staging.dir, 'slide.tif'), tif);
  writeFileSync(path.join(staging.dir, 'thumbnail.jpg'), randomBytes(5000));
  const files: Manifest['files'] = {};
  for (const f of ['slide.tif', 'thumbnail.jpg']) files[f] = await sha256File(path.join(staging.dir, f));
  writeFileSync(path.join(staging.dir, 'manifest.json'), JSON.stringify(manifestFor(id, files)));
  return { staging, tif };
}

interface Kind {
  name: string;
  enabled: () => boolean;
  make: (tag: string) => { store: SlideStore; tmpDir: string };
}

const KINDS: Kind[] = [
  {
    name: 'local folder',
    enabled: () => true,
    make: (tag) => {
      const root = path.join(scratch, `local-${tag}`);
      return { store: new LocalSlideStore(root), tmpDir: path.join(root, 'tmp') };
    },
  },
  {
    name: 'S3 (Ceph RADOS Gateway)',
    enabled: () => canRun,
    make: (tag) => {
      const o = s3Options(`contract/${tag}`);
      return { store: new S3SlideStore(o), tmpDir: o.tmpDir };
    },
  },
];

for (const kind of KINDS) {
  describe.runIf(kind.enabled())(`slide store contract: ${kind.name}`, () => {
    let n = 0;
    const fresh = () => kind.make(`${Date.now()}-${n++}`);

    it('an empty store has no slides', async () => {
      const { store } = fresh();
      expect(await store.has(ID)).toBe(false);
      expect(await store.manifest(ID)).toBeNull();
      expect(await store.list()).toEqual([]);
      expect(await store.storedIds()).toEqual([]);
      expect(await store.files(ID)).toBeNull();
      expect(await store.open(ID, 'slide.tif')).toBeNull();
      expect(await store.remove(ID)).toBe(false);
    });

    it('a committed slide is there whole: has, manifest, list, files, and ranged reads equal to what was staged', async () => {
      const { store } = fresh();
      const { staging, tif } = await stageSlide(store, ID);
      expect(await staging.commit(ID)).toBe(true);
      expect(await store.has(ID)).toBe(true);
      expect((await store.manifest(ID))?.id).toBe(ID);
      expect((await store.list()).map((m) => m.id)).toEqual([ID]);
      expect(await store.storedIds()).toEqual([ID]);
      expect((await store.files(ID))?.map((f) => [f.name, f.bytes])).toEqual([
        ['manifest.json', expect.any(Number)],
        ['slide.tif', tif.length],
        ['thumbnail.jpg', 5000],
      ]);

      const f = (await store.open(ID, 'slide.tif'))!;
      expect(f.size).toBe(tif.length);
      // Ranges inside one block, across block edges, larger than the cache's direct-read limit,
      // cut by the end of the file, and past it.
      const rnd = (k: number) => Math.floor(Math.random() * k);
      const ranges: [number, number][] = [
        [0, 16],
        [16_380, 10],
        [tif.length - 5, 100],
        [tif.length, 10],
        [1000, 200_000],
      ];
      for (let i = 0; i < 60; i++) ranges.push([rnd(tif.length), 1 + rnd(i % 10 === 0 ? 100_000 : 40_000)]);
      const got = await Promise.all(ranges.map(([o, l]) => f.read(o, l)));
      ranges.forEach(([o, l], i) => expect(got[i]!.equals(tif.subarray(o, o + l))).toBe(true));
      await f.close();
      expect(await readStoredFile(store, ID, 'thumbnail.jpg')).toHaveLength(5000);
    });

    it('the same id again is not published twice: commit answers false and the first copy stays', async () => {
      const { store } = fresh();
      const first = await stageSlide(store, ID, 1000);
      await first.staging.commit(ID);
      const second = await stageSlide(store, ID, 2000);
      expect(await second.staging.commit(ID)).toBe(false);
      expect((await store.open(ID, 'slide.tif'))?.size).toBe(1000);
    });

    it('abort, or a beforePublish that throws, publishes nothing and leaves nothing behind', async () => {
      const { store, tmpDir } = fresh();
      const a = await stageSlide(store, ID);
      await a.staging.abort();
      const b = await stageSlide(store, ID2);
      await expect(
        b.staging.commit(ID2, {
          beforePublish: () => {
            throw new Error('caller gone');
          },
        }),
      ).rejects.toThrow('caller gone');
      expect(await store.has(ID)).toBe(false);
      expect(await store.has(ID2)).toBe(false);
      expect(await store.storedIds()).toEqual([]);
      expect(spawnSync('ls', ['-A', tmpDir], { encoding: 'utf8' }).stdout.trim()).toBe('');
    });

    it('a reader never sees a slide without all its files', async () => {
      const { store } = fresh();
      const { staging, tif } = await stageSlide(store, ID, 2_000_000);
      let publishing = true;
      const seen: string[] = [];
      const watch = (async () => {
        // Polls while the commit runs: whenever the slide exists, every file must be there whole.
        while (publishing) {
          const [has, m, list] = await Promise.all([store.has(ID), store.manifest(ID), store.list()]);
          if (has || m || list.length > 0) {
            const f = await store.open(ID, 'slide.tif');
            const t = await store.open(ID, 'thumbnail.jpg');
            seen.push(`${f?.size ?? 'none'}/${t?.size ?? 'none'}`);
            await f?.close();
            await t?.close();
          }
        }
      })();
      let hiddenBeforePublish = false;
      await staging.commit(ID, {
        beforePublish: async () => {
          // Every other file is in place now, and still the slide does not exist.
          hiddenBeforePublish = !(await store.has(ID)) && (await store.list()).length === 0;
        },
      });
      publishing = false;
      await watch;
      expect(hiddenBeforePublish).toBe(true);
      expect(seen.every((s) => s === `${tif.length}/5000`)).toBe(true);
    });

    it('remove takes the slide away, manifest and files; a second remove answers false', async () => {
      const { store } = fresh();
      await (await stageSlide(store, ID)).staging.commit(ID);
      await (await stageSlide(store, ID2)).staging.commit(ID2);
      const open = (await store.open(ID2, 'slide.tif'))!;
      await open.read(0, 100);
      expect(await store.remove(ID)).toBe(true);
      expect(await store.has(ID)).toBe(false);
      expect(await store.open(ID, 'slide.tif')).toBeNull();
      expect(await store.storedIds()).toEqual([ID2]);
      expect(await store.remove(ID)).toBe(false);
      expect((await store.list()).map((m) => m.id)).toEqual([ID2]);
      await open.close();
    });

    it('sweep deletes staging areas and scratch folders of processes that are gone, not live ones', async () => {
      const { store, tmpDir } = fresh();
      // Another process's staging area (a CLI ingest sharing the store) must survive.
      const other = spawn('sleep', ['30'], { stdio: 'ignore' });
      try {
        mkdirSync(path.join(tmpDir, `stage-${other.pid}-live`), { recursive: true });
        mkdirSync(path.join(tmpDir, `work-${other.pid}-live`));
        mkdirSync(path.join(tmpDir, 'stage-999999999-dead'));
        writeFileSync(path.join(tmpDir, 'stage-999999999-dead', 'slide.tif'), 'x');
        mkdirSync(path.join(tmpDir, 'work-999999998-dead'));
        expect(await store.sweep()).toBe(2);
        const left = spawnSync('ls', ['-A', tmpDir], { encoding: 'utf8' }).stdout.trim().split('\n').sort();
        expect(left).toEqual([`stage-${other.pid}-live`, `work-${other.pid}-live`]);
      } finally {
        other.kill('SIGKILL');
      }
    });

    it('hostile ids and file names are refused before storage is touched', async () => {
      const { store } = fresh();
      await (await stageSlide(store, ID)).staging.commit(ID);
      for (const bad of ['../x', `${ID}/..`, ID.toUpperCase(), `${ID}x`, '', '..', `../${ID}`]) {
        expect(await store.has(bad)).toBe(false);
        expect(await store.manifest(bad)).toBeNull();
        expect(await store.open(bad, 'slide.tif')).toBeNull();
        expect(await store.files(bad)).toBeNull();
        expect(await store.remove(bad)).toBe(false);
        await expect((await store.stage()).commit(bad)).rejects.toThrow(RangeError);
      }
      for (const file of ['../manifest.json', 'x.bin', '', `../${ID2}/slide.tif`, 'slide.tif/'])
        expect(await store.open(ID, file)).toBeNull();
      expect(await store.has(ID)).toBe(true);
    });

    it('verify re-hashes every slide through the store and finds a changed file', async () => {
      const { store } = fresh();
      await (await stageSlide(store, ID)).staging.commit(ID);
      await (await stageSlide(store, ID2)).staging.commit(ID2);
      expect((await verifyStore(store)).map((r) => [r.id, r.status])).toEqual([
        [ID, 'ok'],
        [ID2, 'ok'],
      ]);
      // Damage slide.tif of ID2 behind the store's back.
      const changed = randomBytes(300_000);
      if (store instanceof LocalSlideStore) writeFileSync(store.localPath(ID2, 'slide.tif')!, changed);
      else {
        const s3 = rawS3(rgw!);
        const prefix = (store as S3SlideStore).location.split('/').slice(3).join('/');
        await s3.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/slides/${ID2}/slide.tif`, Body: changed }),
        );
        s3.destroy();
      }
      const r = await verifyStore(store, [ID2]);
      expect(r[0]?.status).toBe('failed');
      expect(r[0]?.mismatched.map((m) => m.file)).toEqual(['slide.tif']);
    });
  });
}

describe.runIf(canRun)('S3 store specifics', () => {
  it('sweep deletes objects a publication cut short left (no manifest, old enough), never a published slide', async () => {
    const o = s3Options('orphans');
    const store = new S3SlideStore(o);
    await (await stageSlide(store, ID)).staging.commit(ID);
    const s3 = rawS3(rgw!);
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `orphans/slides/${ID2}/slide.tif`,
        Body: Buffer.from('half'),
      }),
    );
    s3.destroy();
    expect(await store.storedIds()).toEqual([ID, ID2]);
    expect(await store.has(ID2)).toBe(false);
    // A fresh one may be another node's publication under way: kept.
    expect(await store.sweep()).toBe(0);
    expect(await new S3SlideStore({ ...o, orphanAgeMs: 0 }).sweep()).toBe(1);
    expect(await store.storedIds()).toEqual([ID]);
    expect(await store.has(ID)).toBe(true);
  });

  it('a slide.tif larger than one PUT goes up in parts and reads back the same', async () => {
    const store = new S3SlideStore(s3Options('multipart'));
    const { staging, tif } = await stageSlide(store, ID, 70 * 1024 * 1024);
    expect(await staging.commit(ID)).toBe(true);
    const f = (await store.open(ID, 'slide.tif'))!;
    expect(f.size).toBe(tif.length);
    for (const at of [0, 16 * 1024 * 1024 - 7, tif.length - 1000]) {
      expect((await f.read(at, 5000)).equals(tif.subarray(at, at + 5000))).toBe(true);
    }
  }, 120_000);

  it('a manifest is fetched once per process, however many ask at once; a missing one is asked for again; remove forgets it', async () => {
    const o = s3Options('manifests');
    const writer = new S3SlideStore(o);
    await (await stageSlide(writer, ID)).staging.commit(ID);
    // Another node's store: nothing of the slide in its memory yet.
    const reader = new S3SlideStore({ ...o, tmpDir: path.join(scratch, 'manifests-reader') });
    const got = await Promise.all(Array.from({ length: 20 }, () => reader.manifest(ID)));
    expect(got.every((m) => m?.id === ID)).toBe(true);
    expect(reader.stats.requests).toBe(1);
    expect((await reader.manifest(ID))?.id).toBe(ID);
    expect(reader.stats.requests).toBe(1);
    // Not there yet: not remembered, so it is seen as soon as it is published.
    expect(await reader.manifest(ID2)).toBeNull();
    await (await stageSlide(writer, ID2)).staging.commit(ID2);
    expect((await reader.manifest(ID2))?.id).toBe(ID2);
    expect(reader.stats.requests).toBe(3);
    expect(await reader.remove(ID)).toBe(true);
    expect(await reader.manifest(ID)).toBeNull();
    expect(await reader.open(ID, 'slide.tif')).toBeNull();
  });

  it('an upload staged in the bucket comes back whole on another node, apart from slides; removed or old, it is gone', async () => {
    const o = s3Options('uploads');
    const receiver = new S3SlideStore(o);
    const worker = new S3SlideStore({ ...o, tmpDir: path.join(scratch, 'uploads-worker') });
    const dir = mkdtempSync(path.join(scratch, 'upload-'));
    const files: Record<string, Buffer> = {
      'CMU-1 (copy) [2].svs': randomBytes(100_000),
      'series/1.dcm': randomBytes(3000),
      'series/sub dir/2.dcm': randomBytes(0),
    };
    for (const [name, body] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), body);
    }
    const key = randomUUID();
    expect(await receiver.uploads.put(key, dir)).toBe(3);
    const fetched = (await worker.uploads.fetch(key))!;
    expect(path.dirname(fetched)).toBe(path.join(scratch, 'uploads-worker'));
    for (const [name, body] of Object.entries(files))
      expect(readFileSync(path.join(fetched, name)).equals(body)).toBe(true);
    expect(readdirSync(fetched, { recursive: true }).sort()).toEqual([
      'CMU-1 (copy) [2].svs',
      'series',
      'series/1.dcm',
      'series/sub dir',
      'series/sub dir/2.dcm',
    ]);
    expect(await worker.uploads.fetch(randomUUID())).toBeNull();
    await expect(receiver.uploads.put('../slides', dir)).rejects.toThrow(RangeError);
    // Not a slide to any listing or sweep of slides.
    expect(await receiver.storedIds()).toEqual([]);
    expect(await receiver.list()).toEqual([]);

    const second = randomUUID();
    await receiver.uploads.put(second, dir);
    await worker.uploads.remove(second);
    expect(await keysUnder(rgw!, BUCKET, `uploads/uploads/${second}/`)).toEqual([]);
    expect(await worker.uploads.fetch(second)).toBeNull();
    // A young one may still be waiting for its job: kept. An old one is abandoned.
    const sweeper = (age?: number) =>
      new S3SlideStore({ ...o, tmpDir: path.join(scratch, 'uploads-sweeper'), uploadAgeMs: age });
    expect(await sweeper().sweep()).toBe(0);
    expect(await sweeper(0).sweep()).toBe(1);
    expect(await keysUnder(rgw!, BUCKET, 'uploads/uploads/')).toEqual([]);
  });

  it('tessera verify checks the bucket named by TESSERA_STORE', async () => {
    const o = s3Options('cli');
    const store = new S3SlideStore(o);
    await (await stageSlide(store, ID)).staging.commit(ID);
    const r = spawnSync(
      process.execPath,
      [path.resolve('scripts/bin/tessera.mjs'), 'verify', '--data', path.join(scratch, 'cli-data')],
      {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, ...storeEnv(rgw!, BUCKET, 'cli') },
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^OK +${ID} `, 'm'));
  });
});

const haveSlides = canRun && requireSlides();
const CMU = 'aperio/CMU-1-Small-Region.svs';

describe.runIf(haveSlides)('a slide ingested into S3 is served with the pixels of the local store', () => {
  let ctx: ServerContext;
  let server: Server;
  let base = '';
  let localCtx: ServerContext;
  let localServer: Server;
  let localBase = '';
  let token = '';
  let localToken = '';
  let id = '';
  const fetchS3 = authedFetch(() => token);
  const fetchLocal = authedFetch(() => localToken);

  beforeAll(async () => {
    const r = rgw!;
    const s3Data = mkdtempSync(path.join(scratch, 'e2e-s3-'));
    const config = loadConfig(
      {
        dataDir: s3Data,
        store: `s3://${BUCKET}/e2e`,
        s3Endpoint: r.endpoint,
        s3Region: r.region,
        s3AccessKeyId: r.accessKeyId,
        s3SecretAccessKey: r.secretAccessKey,
        port: 0,
        host: '127.0.0.1',
        tileSize: 256,
        jpegQuality: 92,
        sharpConcurrency: 2,
      },
      {},
    );
    ctx = await createServerContext(config, () => {});
    token = (await userWithToken(ctx.db, { name: 'admin', role: 'admin', siteId: 'north' })).token;
    server = createApp(ctx).listen(0, '127.0.0.1');
    await new Promise((res) => server.once('listening', res));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const localData = mkdtempSync(path.join(scratch, 'e2e-local-'));
    id = (await ingest(slidePath(CMU), new LocalSlideStore(localData), { tileSize: 256, jpegQuality: 92 }))
      .manifest.id;
    localCtx = await createServerContext(loadConfig({ dataDir: localData, port: 0 }, {}), () => {});
    localToken = (await userWithToken(localCtx.db, { name: 'admin', role: 'admin', siteId: 'north' })).token;
    localServer = createApp(localCtx).listen(0, '127.0.0.1');
    await new Promise((res) => localServer.once('listening', res));
    localBase = `http://127.0.0.1:${(localServer.address() as AddressInfo).port}`;
  }, 120_000);
  afterAll(async () => {
    for (const [s, c] of [
      [server, ctx],
      [localServer, localCtx],
    ] as const) {
      if (!s) continue;
      await new Promise((res) => s.close(res));
      await c.queue.idle();
      await c.tiles.close();
      await c.db.destroy();
    }
  });

  async function pixels(res: Response): Promise<{ data: Buffer; width: number; height: number }> {
    expect(res.status).toBe(200);
    const { data, info } = await sharp(Buffer.from(await res.arrayBuffer()))
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  }

  it('an upload is converted into the bucket; Deep Zoom tiles and IIIF regions equal the local store’s', async () => {
    const res = await fetchS3(`${base}/api/slides?name=${encodeURIComponent('CMU-1-Small-Region.svs')}`, {
      method: 'POST',
      body: readFileSync(slidePath(CMU)),
    });
    expect(res.status).toBe(202);
    const { jobId } = (await res.json()) as UploadAccepted;
    let job: JobDto | null = null;
    for (let i = 0; i < 600 && !(job && (job.state === 'done' || job.state === 'failed')); i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await (await fetchS3(`${base}/api/jobs/${jobId}`)).json()) as JobDto;
    }
    expect(job?.error ?? null).toBeNull();
    expect(job?.slideId).toBe(id);
    // Served from its upload until the stored pyramid is published: compared once it is.
    let converting = true;
    for (let i = 0; i < 200 && converting; i++) {
      const s = (await (await fetchS3(`${base}/api/slides/${id}`)).json()) as { conversion?: unknown };
      converting = s.conversion != null;
      if (converting) await new Promise((r) => setTimeout(r, 100));
    }
    expect(converting).toBe(false);
    // In the bucket, not in the data folder.
    expect(await ctx.store.has(id)).toBe(true);
    expect(ctx.store.location).toBe(`s3://${BUCKET}/e2e`);

    const dzi = await (await fetchS3(`${base}/slides/${id}.dzi`)).text();
    expect(dzi).toBe(await (await fetchLocal(`${localBase}/slides/${id}.dzi`)).text());
    const top = Math.ceil(Math.log2(2967));
    // Stored tiles (full resolution and a lower level), an edge tile and a 1 x 1 level.
    for (const t of [`${top}/3_4`, `${top}/8_11`, `${top - 2}/1_1`, `${top - 2}/2_2`, '0/0_0']) {
      const a = await fetchS3(`${base}/slides/${id}_files/${t}.jpeg`);
      const b = await fetchLocal(`${localBase}/slides/${id}_files/${t}.jpeg`);
      const [pa, pb] = await Promise.all([pixels(a), pixels(b)]);
      expect([pa.width, pa.height]).toEqual([pb.width, pb.height]);
      expect(pa.data.equals(pb.data)).toBe(true);
    }
    // IIIF: a region across many stored tiles, scaled; one inside a tile; the whole slide.
    for (const q of [
      '300,400,1200,900/600,/0/default.png',
      '10,10,100,100/max/0/default.png',
      'full/400,/0/default.png',
    ]) {
      const [pa, pb] = await Promise.all([
        pixels(await fetchS3(`${base}/iiif/3/${id}/${q}`)),
        pixels(await fetchLocal(`${localBase}/iiif/3/${id}/${q}`)),
      ]);
      expect([pa.width, pa.height]).toEqual([pb.width, pb.height]);
      expect(pa.data.equals(pb.data)).toBe(true);
    }
    const label = await fetchS3(`${base}/api/slides/${id}/associated/label`);
    expect(label.status).toBe(200);
    expect(
      Buffer.from(await label.arrayBuffer()).equals(
        Buffer.from(await (await fetchLocal(`${localBase}/api/slides/${id}/associated/label`)).arrayBuffer()),
      ),
    ).toBe(true);
  }, 180_000);

  it('a node opens the slide with three requests at once (manifest, the end of slide.tif with its tile index, its header); opened again, it asks nothing; a larger index takes one or two more', async () => {
    expect(id).not.toBe('');
    const r = rgw!;
    const node = (extra: Partial<ConstructorParameters<typeof S3SlideStore>[0]> = {}) =>
      new S3SlideStore({
        bucket: BUCKET,
        prefix: 'e2e',
        endpoint: r.endpoint,
        region: r.region,
        credentials: { accessKeyId: r.accessKeyId, secretAccessKey: r.secretAccessKey },
        tmpDir: path.join(scratch, 'open-tmp'),
        ...extra,
      });
    const top = Math.ceil(Math.log2(2967));
    const expected = (await ctx.tiles.dziTile(id, top, 3, 4))!.body;
    const store = node();
    const tiles = new TileService(store);
    expect(await tiles.warm(id)).toBe(true);
    expect(store.stats).toMatchObject({ requests: 3, blockFetches: 0 });
    // Evicted from the open slides and opened again (another service on the same store).
    const again = new TileService(store);
    expect(await again.warm(id)).toBe(true);
    expect(store.stats.requests).toBe(3);
    expect((await again.dziTile(id, top, 3, 4))!.body.equals(expected)).toBe(true);
    // An index larger than the end read on open: the rest of it in at most two more requests (the
    // first directory, when the end read missed it, then the span that directory points to), not
    // one per level; the tiles are the same.
    const small = node({ tailBytes: 1000, blockBytes: 4096 });
    const smallTiles = new TileService(small);
    expect(await smallTiles.warm(id)).toBe(true);
    expect(small.stats.requests).toBeGreaterThan(3);
    expect(small.stats.requests).toBeLessThanOrEqual(5);
    expect((await smallTiles.dziTile(id, top, 3, 4))!.body.equals(expected)).toBe(true);
    expect(small.stats.blockFetches).toBeGreaterThan(0);
    await Promise.all([tiles.close(), again.close(), smallTiles.close(), store.destroy(), small.destroy()]);
  });
});
