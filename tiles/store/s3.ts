import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { type Manifest, ManifestSchema } from '../../protocol/index.ts';
import { sweepWorkFolders } from './owner.ts';
import { BlockCache } from './block-cache.ts';
import { Bucket, type BucketOptions, PARALLEL, filesUnder, mapLimit } from './s3-bucket.ts';
import { S3UploadArea } from './s3-uploads.ts';
import {
  type CommitOptions,
  MANIFEST_FILE,
  type OpenOptions,
  type ReadAt,
  SLIDE_FILE,
  STORED_FILES,
  type SlideStore,
  type Staging,
  type StoredFile,
  type UploadArea,
  isSlideId,
} from './types.ts';

/** Where and how to reach the bucket; plain data, so a converter process can open the same store. */
export interface S3StoreOptions extends BucketOptions {
  /** Key prefix inside the bucket ('' or e.g. 'tessera/prod'); slides live under `<prefix>/slides/<id>/`. */
  prefix: string;
  /** Local folder for staging areas and scratch folders. */
  tmpDir: string;
  /** Bytes of slide.tif ranges (TIFF index, tiles) kept in this process's memory (default 256 MiB). */
  cacheBytes?: number;
  /** Ranges are fetched and kept in aligned blocks of this size (default 128 KiB). */
  blockBytes?: number;
  /**
   * Bytes read from the end of a file when it is opened (default 1 MiB), in the request that finds
   * its size: a slide.tif's directories and tile tables (TiffWriter writes them last; ~1 MB for a
   * 60,000 x 45,000 slide of 240 px tiles), or the whole of a small file.
   */
  tailBytes?: number;
  /** Manifests (and sizes of opened files) remembered per process (default 4096). */
  manifestEntries?: number;
  /** Objects of a slide without a manifest this much older than now are a dead publication (default 24 h). */
  orphanAgeMs?: number;
  /** Staged uploads untouched this long are abandoned (no job waits that long; default 7 days). */
  uploadAgeMs?: number;
}

/** `s3://bucket/prefix` → bucket and prefix; null when `url` is not an s3:// URL; throws when malformed. */
export function parseS3Url(url: string): { bucket: string; prefix: string } | null {
  if (!url.startsWith('s3://')) return null;
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new RangeError(
      `Expected an S3 bucket name (3-63 of a-z 0-9 . -) but received ${JSON.stringify(bucket)}`,
    );
  if (prefix.split('/').some((p) => p === '' || p === '.' || p === '..'))
    throw new RangeError(
      `Expected an S3 key prefix without empty, . or .. parts but received ${JSON.stringify(prefix)}`,
    );
  return { bucket, prefix };
}

/**
 * The store in an S3-compatible bucket (AWS, Ceph RADOS Gateway, MinIO): `<prefix>/slides/<id>/<file>`.
 * Staging is a local folder; commit uploads every file, then manifest.json: objects appear one by
 * one, and the manifest is what makes a slide exist (has, manifest and list look at manifests only),
 * so a reader sees a whole slide or none. remove deletes the manifest first for the same reason.
 *
 * Reads are served from memory where they can be, per process and bounded: manifests (a slide's
 * files never change under its id, which is a content hash), and slide.tif in aligned blocks
 * (block-cache.ts) — the TIFF index and neighbouring tiles (a field of view is a few rows of
 * adjacent tiles, stored next to each other) come from one request. Opening a file is one request
 * that also brings its end (a slide.tif's directories); slide.tif's first block (its header) is
 * asked for at the same time. Concurrent loads of one manifest or block share one request.
 *
 * Uploads waiting for a worker are staged under `<prefix>/uploads/<key>/` (`uploads`).
 */
export class S3SlideStore implements SlideStore {
  readonly location: string;
  readonly bucket: string;
  private readonly staged: S3UploadArea;
  private readonly root: string;
  private readonly keyPrefix: string;
  private readonly s3: Bucket;
  private readonly tmpDir: string;
  private readonly blocks: BlockCache;
  private readonly tailBytes: number;
  private readonly manifests: CountLru<Manifest>;
  private readonly manifestLoads = new Map<string, Promise<Manifest | null>>();
  /** Sizes of files opened before: an open without a request. */
  private readonly sizes: CountLru<number>;
  private readonly orphanAgeMs: number;

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    this.root = opts.prefix ? `${opts.prefix.replace(/\/+$/, '')}/` : '';
    this.keyPrefix = `${this.root}slides/`;
    this.location = `s3://${opts.bucket}${opts.prefix ? `/${opts.prefix}` : ''}`;
    this.tmpDir = path.resolve(opts.tmpDir);
    this.orphanAgeMs = opts.orphanAgeMs ?? 24 * 3600 * 1000;
    this.blocks = new BlockCache(opts.cacheBytes ?? 256 * 1024 * 1024, opts.blockBytes ?? 128 * 1024);
    this.tailBytes = opts.tailBytes ?? 1024 * 1024;
    const entries = opts.manifestEntries ?? 4096;
    this.manifests = new CountLru(entries);
    this.sizes = new CountLru(entries);
    this.s3 = new Bucket(opts);
    this.staged = new S3UploadArea(this.s3, `${this.root}uploads/`, () => this.workDir(), opts.uploadAgeMs);
  }

  get uploads(): UploadArea {
    return this.staged;
  }

  /**
   * Requests sent to the bucket; of them, block fetches for ranges not held and the bytes they
   * brought; bytes of blocks held (benchmarks, tests).
   */
  get stats(): { requests: number; blockFetches: number; fetchedBytes: number; heldBytes: number } {
    return {
      requests: this.s3.stats.requests,
      blockFetches: this.blocks.stats.fetches,
      fetchedBytes: this.blocks.stats.fetchedBytes,
      heldBytes: this.blocks.bytes,
    };
  }

  private key(id: string, file: string): string {
    return `${this.keyPrefix}${id}/${file}`;
  }

  /** Asks the bucket every time: a commit must not take a slide another node removed for present. */
  async has(id: string): Promise<boolean> {
    if (!isSlideId(id)) return false;
    return (await this.s3.head(this.key(id, MANIFEST_FILE))) !== null;
  }

  async manifest(id: string): Promise<Manifest | null> {
    if (!isSlideId(id)) return null;
    const hit = this.manifests.get(id);
    if (hit) return hit;
    let load = this.manifestLoads.get(id);
    if (!load) {
      load = (async () => {
        const body = await this.s3.get(this.key(id, MANIFEST_FILE));
        if (!body) return null;
        const m = ManifestSchema.parse(JSON.parse(body.toString('utf8')));
        // A slide not found is not remembered: it may be published the next moment.
        this.manifests.set(id, m);
        return m;
      })().finally(() => this.manifestLoads.delete(id));
      this.manifestLoads.set(id, load);
    }
    return load;
  }

  async list(): Promise<Manifest[]> {
    const ids = new Set<string>();
    for await (const o of this.s3.objects(this.keyPrefix)) {
      const [id, file] = o.rel.split('/');
      if (file === MANIFEST_FILE && id && isSlideId(id)) ids.add(id);
    }
    const sorted = [...ids].sort();
    const got = await mapLimit(sorted, PARALLEL, (id) => this.manifest(id));
    return got.filter((m): m is Manifest => m !== null);
  }

  async open(id: string, file: string, opts: OpenOptions = {}): Promise<ReadAt | null> {
    if (!isSlideId(id) || !STORED_FILES.has(file)) return null;
    const key = this.key(id, file);
    const fetch = (start: number, end: number): Promise<Buffer> => this.s3.range(key, start, end);
    if (opts.fresh) {
      const size = await this.s3.head(key);
      if (size === null) return null;
      let closed = false;
      return {
        size,
        read: (offset, length) => {
          if (closed) return Promise.reject(new Error(`${id}/${file}: read after close`));
          return fetch(Math.max(0, offset), Math.min(size, offset + length));
        },
        close: async () => {
          closed = true;
        },
      };
    }
    const name = `${id}/${file}`;
    let size = this.sizes.get(name);
    if (size === undefined) {
      const B = this.blocks.blockBytes;
      const [tail, head] = await Promise.all([
        this.s3.tail(key, this.tailBytes),
        file === SLIDE_FILE && !this.blocks.has(name, 0) ? fetch(0, B).catch(() => null) : null,
      ]);
      if (!tail) return null;
      size = tail.size;
      this.blocks.insert(name, size, tail.offset, tail.bytes);
      if (head) this.blocks.insert(name, size, 0, head);
      this.sizes.set(name, size);
    }
    return this.blocks.reader(name, size, fetch);
  }

  async storedIds(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const o of this.s3.objects(this.keyPrefix)) {
      const id = o.rel.split('/')[0];
      if (id && isSlideId(id)) ids.add(id);
    }
    return [...ids].sort();
  }

  async files(id: string): Promise<StoredFile[] | null> {
    if (!isSlideId(id)) return null;
    const out: StoredFile[] = [];
    for await (const o of this.s3.objects(`${this.keyPrefix}${id}/`))
      out.push({ name: o.rel, bytes: o.size });
    return out.length > 0 ? out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) : null;
  }

  async stage(): Promise<Staging> {
    await mkdir(this.tmpDir, { recursive: true });
    const dir = path.join(this.tmpDir, `stage-${process.pid}-${randomUUID()}`);
    await mkdir(dir);
    let done = false;
    return {
      dir,
      commit: async (id: string, opts: CommitOptions = {}): Promise<boolean> => {
        if (!isSlideId(id)) throw new RangeError(`not a slide id: ${JSON.stringify(id)}`);
        if (done) throw new Error('staging area already closed');
        done = true;
        const uploaded: string[] = [];
        try {
          if (await this.has(id)) return false;
          const files = await filesUnder(dir);
          const manifest = files.includes(MANIFEST_FILE);
          await mapLimit(
            files.filter((f) => f !== MANIFEST_FILE),
            PARALLEL,
            async (f) => {
              const key = this.key(id, f);
              uploaded.push(key);
              await this.s3.upload(path.join(dir, f), key);
            },
          );
          await opts.beforePublish?.();
          // The manifest last: until it is there, the slide does not exist for any reader.
          if (manifest) {
            uploaded.push(this.key(id, MANIFEST_FILE));
            await this.s3.upload(path.join(dir, MANIFEST_FILE), this.key(id, MANIFEST_FILE));
          }
          return true;
        } catch (e) {
          // Nothing half-published stays behind (sweep catches what a crash leaves instead).
          await this.s3.deleteKeys(uploaded.reverse()).catch(() => undefined);
          throw e;
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
      async abort(): Promise<void> {
        done = true;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  async remove(id: string): Promise<boolean> {
    if (!isSlideId(id)) return false;
    const keys: string[] = [];
    for await (const o of this.s3.objects(`${this.keyPrefix}${id}/`)) keys.push(o.key);
    this.forget(id);
    if (keys.length === 0) return false;
    const manifest = this.key(id, MANIFEST_FILE);
    // The manifest first: from then on the slide is gone for every reader, whatever happens next.
    if (keys.includes(manifest)) await this.s3.deleteKey(manifest);
    await this.s3.deleteKeys(keys.filter((k) => k !== manifest));
    return true;
  }

  /** Drop what this process remembers of a slide. */
  private forget(id: string): void {
    this.manifests.delete(id);
    this.sizes.deleteWhere((name) => name.startsWith(`${id}/`));
    this.blocks.forget(`${id}/`);
  }

  async sweep(): Promise<number> {
    let n = await sweepWorkFolders(this.tmpDir);
    // A publication cut short (a crash between the first upload and the manifest) leaves objects
    // without a manifest. One still running on another node looks the same, so only old ones go.
    const slides = new Map<string, { manifest: boolean; newest: number; keys: string[] }>();
    for await (const o of this.s3.objects(this.keyPrefix)) {
      const [id, file] = o.rel.split('/');
      if (!id || !isSlideId(id)) continue;
      const s = slides.get(id) ?? { manifest: false, newest: 0, keys: [] };
      if (file === MANIFEST_FILE) s.manifest = true;
      s.newest = Math.max(s.newest, o.modified);
      s.keys.push(o.key);
      slides.set(id, s);
    }
    const before = Date.now() - this.orphanAgeMs;
    for (const s of slides.values()) {
      if (s.manifest || s.newest > before) continue;
      await this.s3.deleteKeys(s.keys);
      n++;
    }
    return n + (await this.staged.sweep());
  }

  async workDir(): Promise<string> {
    await mkdir(this.tmpDir, { recursive: true });
    const dir = path.join(this.tmpDir, `work-${process.pid}-${randomUUID()}`);
    await mkdir(dir);
    return dir;
  }

  /** Close the connections (tests, short-lived commands). */
  async destroy(): Promise<void> {
    await this.s3.destroy();
  }
}

/** Least-recently-used map of at most `max` entries. */
class CountLru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}

  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v === undefined) return undefined;
    this.map.delete(k);
    this.map.set(k, v);
    return v;
  }

  set(k: string, v: V): void {
    this.map.delete(k);
    if (this.max < 1) return;
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  delete(k: string): void {
    this.map.delete(k);
  }

  deleteWhere(match: (k: string) => boolean): void {
    for (const k of this.map.keys()) if (match(k)) this.map.delete(k);
  }
}
