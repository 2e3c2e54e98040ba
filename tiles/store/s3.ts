import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type * as S3 from '@aws-sdk/client-s3';
import { type Manifest, ManifestSchema } from '../../protocol/index.ts';
import {
  type CommitOptions,
  MANIFEST_FILE,
  type ReadAt,
  STORED_FILES,
  type SlideStore,
  type Staging,
  type StoredFile,
  isSlideId,
} from './types.ts';

/** Where and how to reach the bucket; plain data, so a converter process can open the same store. */
export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' or e.g. 'tessera/prod'); slides live under `<prefix>/slides/<id>/`. */
  prefix: string;
  /** http(s)://host:port of an S3-compatible server; unset: AWS. */
  endpoint?: string;
  region?: string;
  /** bucket in the path rather than the host name (on-premise servers); default: true with an endpoint. */
  forcePathStyle?: boolean;
  /** Unset: the SDK's usual chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Local folder for staging areas and scratch folders. */
  tmpDir: string;
  /** Bytes of slide.tif ranges (TIFF index, tiles) kept in this process's memory (default 256 MiB). */
  cacheBytes?: number;
  /** Ranges are fetched and kept in aligned blocks of this size (default 128 KiB). */
  blockBytes?: number;
  /** Objects of a slide without a manifest this much older than now are a dead publication (default 24 h). */
  orphanAgeMs?: number;
}

/** Files above this go up in parts (one PUT takes at most 5 GB; parts also retry alone). */
const MULTIPART_FROM = 64 * 1024 * 1024;
const PART_BYTES = 16 * 1024 * 1024;
/** S3 allows at most 10,000 parts. */
const MAX_PARTS = 10_000;
/** Objects uploaded, parts sent or manifests fetched at once. */
const PARALLEL = 4;

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
 * slide.tif is read with ranged GETs in aligned blocks kept in a bounded in-memory cache: the TIFF
 * index (IFDs, tile tables) and neighbouring tiles (a field of view is a few rows of adjacent tiles,
 * stored next to each other) come from one request. Slide files never change under an id (ids are
 * content hashes), so a cached block is never stale.
 */
export class S3SlideStore implements SlideStore {
  readonly location: string;
  readonly bucket: string;
  private readonly keyPrefix: string;
  private readonly opts: S3StoreOptions;
  private connection: Promise<{ sdk: typeof S3; client: S3.S3Client }> | null = null;
  private readonly tmpDir: string;
  private readonly blocks: BlockCache;
  private readonly orphanAgeMs: number;

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    this.keyPrefix = opts.prefix ? `${opts.prefix.replace(/\/+$/, '')}/slides/` : 'slides/';
    this.location = `s3://${opts.bucket}${opts.prefix ? `/${opts.prefix}` : ''}`;
    this.tmpDir = path.resolve(opts.tmpDir);
    this.orphanAgeMs = opts.orphanAgeMs ?? 24 * 3600 * 1000;
    this.blocks = new BlockCache(opts.cacheBytes ?? 256 * 1024 * 1024, opts.blockBytes ?? 128 * 1024);
    this.opts = opts;
  }

  /** The SDK is loaded on first use: a local store never pays for it. */
  private s3(): Promise<{ sdk: typeof S3; client: S3.S3Client }> {
    // The SDK warns once per process on Node 20 that its releases from 2027 need Node 22; the
    // version in package.json is pinned to one that runs here, and the warning would otherwise land
    // on the stderr of every command (`tessera verify`) that reads a bucket.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.connection ??= import('@aws-sdk/client-s3').then((sdk) => {
      const o = this.opts;
      const client = new sdk.S3Client({
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        region: o.region || 'us-east-1',
        forcePathStyle: o.forcePathStyle ?? Boolean(o.endpoint),
        ...(o.credentials ? { credentials: o.credentials } : {}),
        // Checksums only where S3 demands them: otherwise bodies are sent aws-chunked, which
        // S3-compatible servers (Ceph RGW) refuse, and every ranged read would be re-hashed.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      return { sdk, client };
    });
    return this.connection;
  }

  private key(id: string, file: string): string {
    return `${this.keyPrefix}${id}/${file}`;
  }

  async has(id: string): Promise<boolean> {
    if (!isSlideId(id)) return false;
    return (await this.head(this.key(id, MANIFEST_FILE))) !== null;
  }

  async manifest(id: string): Promise<Manifest | null> {
    if (!isSlideId(id)) return null;
    const body = await this.get(this.key(id, MANIFEST_FILE));
    return body ? ManifestSchema.parse(JSON.parse(body.toString('utf8'))) : null;
  }

  async list(): Promise<Manifest[]> {
    const ids = new Set<string>();
    for await (const o of this.objects(this.keyPrefix)) {
      const [id, file] = o.rel.split('/');
      if (file === MANIFEST_FILE && id && isSlideId(id)) ids.add(id);
    }
    const sorted = [...ids].sort();
    const got = await mapLimit(sorted, PARALLEL, (id) => this.manifest(id));
    return got.filter((m): m is Manifest => m !== null);
  }

  async open(id: string, file: string): Promise<ReadAt | null> {
    if (!isSlideId(id) || !STORED_FILES.has(file)) return null;
    const key = this.key(id, file);
    const size = await this.head(key);
    if (size === null) return null;
    return this.blocks.reader(`${id}/${file}`, size, (start, end) => this.range(key, start, end));
  }

  async storedIds(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const o of this.objects(this.keyPrefix)) {
      const id = o.rel.split('/')[0];
      if (id && isSlideId(id)) ids.add(id);
    }
    return [...ids].sort();
  }

  async files(id: string): Promise<StoredFile[] | null> {
    if (!isSlideId(id)) return null;
    const out: StoredFile[] = [];
    for await (const o of this.objects(`${this.keyPrefix}${id}/`)) out.push({ name: o.rel, bytes: o.size });
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
          const files = (await readdir(dir, { withFileTypes: true, recursive: true }))
            .filter((e) => e.isFile())
            .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
          const manifest = files.includes(MANIFEST_FILE);
          await mapLimit(
            files.filter((f) => f !== MANIFEST_FILE),
            PARALLEL,
            async (f) => {
              const key = this.key(id, f);
              uploaded.push(key);
              await this.upload(path.join(dir, f), key);
            },
          );
          await opts.beforePublish?.();
          // The manifest last: until it is there, the slide does not exist for any reader.
          if (manifest) {
            uploaded.push(this.key(id, MANIFEST_FILE));
            await this.upload(path.join(dir, MANIFEST_FILE), this.key(id, MANIFEST_FILE));
          }
          return true;
        } catch (e) {
          // Nothing half-published stays behind (sweep catches what a crash leaves instead).
          await this.deleteKeys(uploaded.reverse()).catch(() => undefined);
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
    const { sdk, client } = await this.s3();
    const keys: string[] = [];
    for await (const o of this.objects(`${this.keyPrefix}${id}/`)) keys.push(o.key);
    if (keys.length === 0) return false;
    const manifest = this.key(id, MANIFEST_FILE);
    // The manifest first: from then on the slide is gone for every reader, whatever happens next.
    if (keys.includes(manifest))
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: manifest }));
    await this.deleteKeys(keys.filter((k) => k !== manifest));
    this.blocks.forget(`${id}/`);
    return true;
  }

  async sweep(): Promise<number> {
    let n = await sweepLocal(this.tmpDir);
    // A publication cut short (a crash between the first upload and the manifest) leaves objects
    // without a manifest. One still running on another node looks the same, so only old ones go.
    const slides = new Map<string, { manifest: boolean; newest: number; keys: string[] }>();
    for await (const o of this.objects(this.keyPrefix)) {
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
      await this.deleteKeys(s.keys);
      n++;
    }
    return n;
  }

  async workDir(): Promise<string> {
    await mkdir(this.tmpDir, { recursive: true });
    const dir = path.join(this.tmpDir, `work-${process.pid}-${randomUUID()}`);
    await mkdir(dir);
    return dir;
  }

  /** Size of an object, or null when there is none. */
  private async head(key: string): Promise<number | null> {
    const { sdk, client } = await this.s3();
    try {
      const r = await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return r.ContentLength ?? 0;
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  private async get(key: string): Promise<Buffer | null> {
    const { sdk, client } = await this.s3();
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return r.Body ? asBuffer(await r.Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  /** Bytes [start, end) of an object. */
  private async range(key: string, start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    const { sdk, client } = await this.s3();
    const r = await client.send(
      new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }),
    );
    return r.Body ? asBuffer(await r.Body.transformToByteArray()) : Buffer.alloc(0);
  }

  private async *objects(
    prefix: string,
  ): AsyncGenerator<{ key: string; rel: string; size: number; modified: number }> {
    const { sdk, client } = await this.s3();
    let token: string | undefined;
    do {
      const r = await client.send(
        new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) {
        if (!o.Key) continue;
        yield {
          key: o.Key,
          rel: o.Key.slice(prefix.length),
          size: o.Size ?? 0,
          modified: o.LastModified?.getTime() ?? 0,
        };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    const { sdk, client } = await this.s3();
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      if (batch.length === 0) continue;
      const r = await client.send(
        new sdk.DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`S3 delete failed: ${failed[0]!.Code} ${failed[0]!.Key}`);
    }
  }

  /** One local file to one object: a single PUT from memory, or parts for large files. */
  private async upload(file: string, key: string): Promise<void> {
    const { sdk, client } = await this.s3();
    const fh = await fsp.open(file, 'r');
    try {
      const size = (await fh.stat()).size;
      const readPart = async (start: number, length: number): Promise<Buffer> => {
        const buf = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await fh.read(buf, done, length - done, start + done);
          if (bytesRead === 0) throw new Error(`${path.basename(file)} shrank while it was uploaded`);
          done += bytesRead;
        }
        return buf;
      };
      if (size < MULTIPART_FROM) {
        await client.send(
          new sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: await readPart(0, size),
            ContentLength: size,
          }),
        );
        return;
      }
      const partBytes = Math.max(PART_BYTES, Math.ceil(size / MAX_PARTS));
      const { UploadId } = await client.send(
        new sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }),
      );
      try {
        const parts = Array.from({ length: Math.ceil(size / partBytes) }, (_, i) => i);
        const etags = await mapLimit(parts, PARALLEL, async (i) => {
          const start = i * partBytes;
          const length = Math.min(partBytes, size - start);
          const r = await client.send(
            new sdk.UploadPartCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId,
              PartNumber: i + 1,
              Body: await readPart(start, length),
              ContentLength: length,
            }),
          );
          return r.ETag;
        });
        await client.send(
          new sdk.CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          }),
        );
      } catch (e) {
        await client
          .send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId }))
          .catch(() => undefined);
        throw e;
      }
    } finally {
      await fh.close();
    }
  }

  /** Close the connections (tests, short-lived commands). */
  async destroy(): Promise<void> {
    const c = this.connection;
    this.connection = null;
    if (c) (await c).client.destroy();
  }
}

/**
 * Byte ranges of stored files in aligned blocks, least recently used out once over `maxBytes`.
 * Concurrent reads of one block share one request; consecutive missing blocks are one request.
 * Reads larger than a few blocks (hashing a whole file) go straight to the store and are not kept.
 */
class BlockCache {
  private readonly map = new Map<string, Buffer>();
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private used = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly blockBytes: number,
  ) {}

  reader(name: string, size: number, fetch: (start: number, end: number) => Promise<Buffer>): ReadAt {
    const B = this.blockBytes;
    const block = (b: number): Promise<Buffer> => {
      const k = `${name}#${b}`;
      const hit = this.map.get(k);
      if (hit) {
        this.map.delete(k);
        this.map.set(k, hit);
        return Promise.resolve(hit);
      }
      const running = this.inflight.get(k);
      if (running) return running;
      const p = fetch(b * B, Math.min(size, (b + 1) * B))
        .then((buf) => {
          this.set(k, buf);
          return buf;
        })
        .finally(() => this.inflight.delete(k));
      this.inflight.set(k, p);
      return p;
    };
    /** Fetch runs of consecutive missing blocks with one request each, so a table of 5 blocks is one GET. */
    const blocks = async (b0: number, b1: number): Promise<Buffer[]> => {
      const missing: number[] = [];
      for (let b = b0; b <= b1; b++) {
        const k = `${name}#${b}`;
        if (!this.map.has(k) && !this.inflight.has(k)) missing.push(b);
      }
      for (let i = 0; i < missing.length;) {
        let j = i;
        while (j + 1 < missing.length && missing[j + 1] === missing[j]! + 1) j++;
        const first = missing[i]!;
        const last = missing[j]!;
        if (last > first) {
          const all = fetch(first * B, Math.min(size, (last + 1) * B));
          for (let b = first; b <= last; b++) {
            const k = `${name}#${b}`;
            const off = (b - first) * B;
            const p = all
              .then((buf) => {
                const part = Buffer.from(buf.subarray(off, off + B));
                this.set(k, part);
                return part;
              })
              .finally(() => this.inflight.delete(k));
            this.inflight.set(k, p);
          }
        }
        i = j + 1;
      }
      const out: Promise<Buffer>[] = [];
      for (let b = b0; b <= b1; b++) out.push(block(b));
      return Promise.all(out);
    };
    let closed = false;
    return {
      size,
      read: async (offset: number, length: number): Promise<Buffer> => {
        if (closed) throw new Error(`${name}: read after close`);
        const end = Math.min(size, offset + length);
        if (!(offset >= 0) || end <= offset) return Buffer.alloc(0);
        if (end - offset > 4 * B || this.maxBytes < B) return fetch(offset, end);
        const b0 = Math.floor(offset / B);
        const b1 = Math.floor((end - 1) / B);
        const bufs = await blocks(b0, b1);
        if (bufs.length === 1) return bufs[0]!.subarray(offset - b0 * B, end - b0 * B);
        return Buffer.concat(bufs).subarray(offset - b0 * B, end - b0 * B);
      },
      close: async () => {
        closed = true;
      },
    };
  }

  /** Drop every block of files whose name starts with `prefix` (a removed slide). */
  forget(prefix: string): void {
    for (const [k, v] of this.map) {
      if (k.startsWith(prefix)) {
        this.map.delete(k);
        this.used -= v.length;
      }
    }
  }

  private set(k: string, buf: Buffer): void {
    const old = this.map.get(k);
    if (old) {
      this.map.delete(k);
      this.used -= old.length;
    }
    if (buf.length > this.maxBytes) return;
    this.map.set(k, buf);
    this.used += buf.length;
    for (const [key, v] of this.map) {
      if (this.used <= this.maxBytes) break;
      this.map.delete(key);
      this.used -= v.length;
    }
  }
}

/** Staging areas and scratch folders of processes that are gone (as LocalSlideStore sweeps its own). */
async function sweepLocal(tmpDir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    const m = /^(stage|work)-(\d+)-/.exec(name);
    if (m && !processAlive(Number(m[2]))) {
      await rm(path.join(tmpDir, name), { recursive: true, force: true });
      n++;
    }
  }
  return n;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function notFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
}

function asBuffer(a: Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Map with at most `limit` calls running; results in input order; every call settles before a failure leaves. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { e: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw (failure as { e: unknown }).e;
  return out;
}
