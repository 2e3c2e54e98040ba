import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { Request } from 'express';
import { HttpError } from './errors.ts';

export interface StagedUpload {
  /** The slide to ingest: the single file, or the folder when several files came together. */
  input: string;
  /** The folder to delete once ingest ends. */
  dir: string;
  name: string;
  bytes: number;
  /** SHA-256 (hex) of a single-file upload, computed as it arrived; absent for several files. */
  sha256?: string;
  /** performance.now() when the request began to be read and when its last byte was read. */
  startedAt: number;
  lastByteAt: number;
}

/**
 * A client-supplied file name made safe: path segments kept (a DICOM series or a MIRAX data folder
 * arrives as several files with relative paths), no '..', no absolute paths, no control characters.
 */
export function safeRelativeName(raw: string): string {
  const segments = raw.replace(/\\/g, '/').split('/');
  const out: string[] = [];
  for (const seg of segments) {
    // Control characters (NUL included) never belong in a file name.
    // eslint-disable-next-line no-control-regex
    const clean = seg.replace(/[\u0000-\u001f\u007f]/g, '').trim();
    if (clean === '' || clean === '.') continue;
    if (clean === '..')
      throw new HttpError('INVALID_PARAMETER', `file name may not contain '..': ${JSON.stringify(raw)}`);
    out.push(clean.slice(0, 200));
  }
  if (out.length === 0) throw new HttpError('INVALID_PARAMETER', 'file name is empty');
  if (out.length > 8) throw new HttpError('INVALID_PARAMETER', 'file name has too many folders');
  return out.join('/');
}

/** X-File-Name is percent-encoded (headers are Latin-1); a broken escape is the client's mistake. */
function decodeHeaderName(h: string): string {
  try {
    return decodeURIComponent(h);
  } catch {
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected X-File-Name to be percent-encoded UTF-8 but received ${JSON.stringify(h.slice(0, 64))}`,
    );
  }
}

class ByteLimit extends Transform {
  bytes = 0;
  /** The bytes' SHA-256 as they pass: the slide's id is known the moment the upload ends. */
  private readonly hash = createHash('sha256');
  constructor(private readonly limit: { remaining: number }) {
    super();
  }
  digest(): string {
    return this.hash.digest('hex');
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.limit.remaining -= chunk.length;
    if (this.limit.remaining < 0)
      cb(new HttpError('UPLOAD_TOO_LARGE', 'upload is larger than the configured limit'));
    else cb(null, chunk);
  }
}

/**
 * Stream a request body to disk (never held in memory). Raw bodies carry the file name in `?name=`
 * or `X-File-Name`; multipart bodies may carry several files of one slide. On any failure, or when
 * the client goes away, the partial upload is deleted.
 */
export async function receiveUpload(
  req: Request,
  uploadsRoot: string,
  maxBytes: number,
): Promise<StagedUpload> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new HttpError(
      'UPLOAD_TOO_LARGE',
      `upload of ${declared} bytes is larger than the limit of ${maxBytes}`,
    );
  }
  const startedAt = performance.now();
  let lastByteAt = 0;
  req.once('end', () => (lastByteAt = performance.now()));
  const dir = path.join(uploadsRoot, randomUUID());
  await mkdir(dir, { recursive: true });
  const limit = { remaining: maxBytes };
  try {
    const ctype = String(req.headers['content-type'] ?? '');
    const files = ctype.startsWith('multipart/form-data')
      ? await receiveMultipart(req, dir, limit)
      : [await receiveRaw(req, dir, limit)];
    if (files.length === 0) throw new HttpError('BAD_REQUEST', 'no file in the upload');
    const bytes = files.reduce((s, f) => s + f.bytes, 0);
    if (bytes === 0) throw new HttpError('EMPTY_FILE', 'uploaded file is empty (0 bytes)');
    const first = files[0]!;
    const single = files.length === 1 && !first.rel.includes('/');
    const top = first.rel.split('/')[0]!;
    const input = single
      ? path.join(dir, first.rel)
      : files.every((f) => f.rel.startsWith(`${top}/`))
        ? path.join(dir, top)
        : dir;
    const name = path.basename(single ? first.rel : top).replace(/\.[^.]+$/, '') || 'upload';
    return {
      input,
      dir,
      name,
      bytes,
      ...(single && first.sha256 ? { sha256: first.sha256 } : {}),
      startedAt,
      lastByteAt: lastByteAt || performance.now(),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function receiveRaw(
  req: Request,
  dir: string,
  limit: { remaining: number },
): Promise<{ rel: string; bytes: number; sha256?: string }> {
  const q = typeof req.query.name === 'string' ? req.query.name : undefined;
  const h = req.headers['x-file-name'];
  const rawName = q ?? (typeof h === 'string' ? decodeHeaderName(h) : undefined);
  if (!rawName)
    throw new HttpError(
      'INVALID_PARAMETER',
      'file name missing: send ?name=FILE or an X-File-Name header, or use multipart/form-data',
    );
  const rel = safeRelativeName(path.basename(rawName.replace(/\\/g, '/')));
  const counter = new ByteLimit(limit);
  await pipeline(req, counter, createWriteStream(path.join(dir, rel), { flags: 'wx' }));
  return { rel, bytes: counter.bytes, sha256: counter.digest() };
}

function receiveMultipart(
  req: Request,
  dir: string,
  limit: { remaining: number },
): Promise<{ rel: string; bytes: number; sha256?: string }[]> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, preservePath: true, limits: { files: 20_000, fields: 50 } });
    } catch (e) {
      reject(new HttpError('BAD_REQUEST', `bad multipart body: ${(e as Error).message}`));
      return;
    }
    const files: { rel: string; bytes: number; sha256?: string }[] = [];
    const writes: Promise<void>[] = [];
    let failed = false;
    const fail = (e: unknown): void => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      reject(e);
    };
    bb.on('file', (_field, stream, info) => {
      let rel: string;
      try {
        rel = safeRelativeName(info.filename ?? '');
      } catch (e) {
        stream.resume();
        fail(e);
        return;
      }
      const target = path.join(dir, rel);
      const counter = new ByteLimit(limit);
      writes.push(
        mkdir(path.dirname(target), { recursive: true })
          .then(() => pipeline(stream, counter, createWriteStream(target, { flags: 'wx' })))
          .then(() => {
            files.push({ rel, bytes: counter.bytes, sha256: counter.digest() });
          })
          .catch((e: unknown) => {
            stream.resume();
            fail(
              (e as NodeJS.ErrnoException).code === 'EEXIST'
                ? new HttpError('INVALID_PARAMETER', `file sent twice: ${rel}`)
                : e,
            );
          }),
      );
    });
    bb.on('error', (e) => fail(new HttpError('BAD_REQUEST', `bad multipart body: ${(e as Error).message}`)));
    bb.on('close', () => {
      void Promise.all(writes).then(() => {
        if (!failed) resolve(files.sort((a, b) => a.rel.localeCompare(b.rel)));
      });
    });
    req.on('aborted', () => fail(new HttpError('BAD_REQUEST', 'client went away during upload')));
    req.pipe(bb);
  });
}
