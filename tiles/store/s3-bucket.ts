import { createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as S3 from '@aws-sdk/client-s3';
import { RangedGet, type RangedGetOptions, S3HttpError } from './s3-get.ts';

/** How to reach a bucket; plain data. */
export interface BucketOptions {
  bucket: string;
  /** http(s)://host:port of an S3-compatible server; unset: AWS. */
  endpoint?: string;
  region?: string;
  /** bucket in the path rather than the host name (on-premise servers); default: true with an endpoint. */
  forcePathStyle?: boolean;
  /** Unset: the SDK's usual chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Connections kept open to the server, per process (default 64). */
  maxSockets?: number;
}

/** Files above this go up in parts (one PUT takes at most 5 GB; parts also retry alone). */
const MULTIPART_FROM = 64 * 1024 * 1024;
const PART_BYTES = 16 * 1024 * 1024;
/** S3 allows at most 10,000 parts. */
const MAX_PARTS = 10_000;
/** Objects uploaded, parts sent or manifests fetched at once. */
export const PARALLEL = 4;

/** An object listed under a prefix: its key, the key without the prefix, size and last change (ms). */
export interface ListedObject {
  key: string;
  rel: string;
  size: number;
  modified: number;
}

/**
 * The object operations the S3 store is made of, on keep-alive connections (a ranged read on a
 * fresh connection pays the TCP handshake again), at most `maxSockets` of them: ranged reads, the
 * hot path, signed and sent without the SDK (s3-get.ts); the rest through the SDK's client.
 */
export class Bucket {
  readonly name: string;
  /** Requests sent since start (benchmarks, tests). */
  readonly stats = { requests: 0 };
  private connection: Promise<{ sdk: typeof S3; client: S3.S3Client }> | null = null;
  private ranged: Promise<RangedGet> | null = null;

  constructor(private readonly opts: BucketOptions) {
    this.name = opts.bucket;
  }

  /** The SDK is loaded on first use: a local store never pays for it. */
  private s3(): Promise<{ sdk: typeof S3; client: S3.S3Client }> {
    // The SDK warns once per process on Node 20 that its releases from 2027 need Node 22; the
    // version in package.json is pinned to one that runs here, and the warning would otherwise land
    // on the stderr of every command (`tessera verify`) that reads a bucket.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.connection ??= import('@aws-sdk/client-s3').then((sdk) => {
      const o = this.opts;
      const agent = { keepAlive: true, maxSockets: o.maxSockets ?? 64 };
      const client = new sdk.S3Client({
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        region: o.region || 'us-east-1',
        forcePathStyle: o.forcePathStyle ?? Boolean(o.endpoint),
        ...(o.credentials ? { credentials: o.credentials } : {}),
        // Checksums only where S3 demands them: otherwise bodies are sent aws-chunked, which
        // S3-compatible servers (Ceph RGW) refuse, and every ranged read would be re-hashed.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: { httpAgent: agent, httpsAgent: agent },
      });
      client.middlewareStack.add(
        (next) => (args) => {
          this.stats.requests++;
          return next(args);
        },
        { step: 'initialize', name: 'tesseraRequestCount' },
      );
      return { sdk, client };
    });
    return this.connection;
  }

  /** Size of an object, or null when there is none. */
  async head(key: string): Promise<number | null> {
    const { sdk, client } = await this.s3();
    try {
      const r = await client.send(new sdk.HeadObjectCommand({ Bucket: this.name, Key: key }));
      return r.ContentLength ?? 0;
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  /** A whole object, or null when there is none. */
  async get(key: string): Promise<Buffer | null> {
    const { sdk, client } = await this.s3();
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: this.name, Key: key }));
      return r.Body ? asBuffer(await r.Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  }

  /** The client for ranged reads; credentials from the options, or the SDK's chain (refreshed by it). */
  private fast(): Promise<RangedGet> {
    this.ranged ??= (async () => {
      const o = this.opts;
      let credentials: RangedGetOptions['credentials'];
      if (o.credentials) {
        const c = o.credentials;
        credentials = () => Promise.resolve(c);
      } else {
        const { client } = await this.s3();
        credentials = () => client.config.credentials();
      }
      return new RangedGet({
        bucket: o.bucket,
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        region: o.region || 'us-east-1',
        forcePathStyle: o.forcePathStyle ?? Boolean(o.endpoint),
        credentials,
        maxSockets: o.maxSockets ?? 64,
      });
    })();
    return this.ranged;
  }

  /** Bytes [start, end) of an object. */
  async range(key: string, start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    this.stats.requests++;
    const r = await (await this.fast()).get(key, `bytes=${start}-${end - 1}`);
    // A server that ignores ranges answers the whole object.
    return r.range ? r.bytes : r.bytes.subarray(start, end);
  }

  /**
   * The last `length` bytes of an object (all of it when smaller) with its size, in one request:
   * whether it exists, how large it is and its end, for the price of a HEAD. Null when there is none.
   */
  async tail(key: string, length: number): Promise<{ size: number; offset: number; bytes: Buffer } | null> {
    this.stats.requests++;
    try {
      const r = await (await this.fast()).get(key, `bytes=-${length}`);
      if (!r.range) return { size: r.bytes.length, offset: 0, bytes: r.bytes };
      return { size: r.range.size, offset: r.range.start, bytes: r.bytes };
    } catch (e) {
      if (e instanceof S3HttpError && e.status === 404) return null;
      // An empty object has no last byte to range over.
      if (e instanceof S3HttpError && e.status === 416) {
        const size = await this.head(key);
        return size === null ? null : { size, offset: 0, bytes: Buffer.alloc(0) };
      }
      throw e;
    }
  }

  /** An object written to a local file, streamed; false when there is none. */
  async download(key: string, file: string): Promise<boolean> {
    const { sdk, client } = await this.s3();
    let body: Readable;
    try {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: this.name, Key: key }));
      body = r.Body as Readable;
    } catch (e) {
      if (notFound(e)) return false;
      throw e;
    }
    await pipeline(body, createWriteStream(file, { flags: 'wx' }));
    return true;
  }

  async *objects(prefix: string): AsyncGenerator<ListedObject> {
    const { sdk, client } = await this.s3();
    let token: string | undefined;
    do {
      const r = await client.send(
        new sdk.ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }),
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

  async deleteKey(key: string): Promise<void> {
    const { sdk, client } = await this.s3();
    await client.send(new sdk.DeleteObjectCommand({ Bucket: this.name, Key: key }));
  }

  async deleteKeys(keys: string[]): Promise<void> {
    const { sdk, client } = await this.s3();
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      if (batch.length === 0) continue;
      const r = await client.send(
        new sdk.DeleteObjectsCommand({
          Bucket: this.name,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`S3 delete failed: ${failed[0]!.Code} ${failed[0]!.Key}`);
    }
  }

  /** One local file to one object: a single PUT from memory, or parts for large files. */
  async upload(file: string, key: string): Promise<void> {
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
            Bucket: this.name,
            Key: key,
            Body: await readPart(0, size),
            ContentLength: size,
          }),
        );
        return;
      }
      const partBytes = Math.max(PART_BYTES, Math.ceil(size / MAX_PARTS));
      const { UploadId } = await client.send(
        new sdk.CreateMultipartUploadCommand({ Bucket: this.name, Key: key }),
      );
      try {
        const parts = Array.from({ length: Math.ceil(size / partBytes) }, (_, i) => i);
        const etags = await mapLimit(parts, PARALLEL, async (i) => {
          const start = i * partBytes;
          const length = Math.min(partBytes, size - start);
          const r = await client.send(
            new sdk.UploadPartCommand({
              Bucket: this.name,
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
            Bucket: this.name,
            Key: key,
            UploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          }),
        );
      } catch (e) {
        await client
          .send(new sdk.AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId }))
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
    const r = this.ranged;
    this.connection = null;
    this.ranged = null;
    if (c) (await c).client.destroy();
    if (r) (await r).destroy();
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
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
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

/** Files under a local folder, as relative paths with forward slashes. */
export async function filesUnder(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir, { withFileTypes: true, recursive: true }))
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}
