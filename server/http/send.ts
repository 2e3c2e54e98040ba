import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { createHash } from 'node:crypto';

const gzipAsync = promisify(gzip);

/** What the tile service hands back: bytes plus what HTTP needs to cache them. */
export interface Payload {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** Tiles and images of a slide never change: ids are content hashes. */
export const IMMUTABLE = 'private, max-age=31536000, immutable';

/**
 * Send bytes with a strong ETag, answering 304 when the client already has them. Works on plain
 * node:http objects so the tile fast path and Express routes share it; the headers go out in one
 * writeHead call (merged with any set before, such as helmet's), not one setHeader each.
 */
export function sendPayload(
  req: IncomingMessage,
  res: ServerResponse,
  p: Payload,
  cacheControl = IMMUTABLE,
): void {
  const etag = p.etag.startsWith('"') ? p.etag : `"${p.etag}"`;
  const cache = ['ETag', etag, 'Cache-Control', cacheControl, 'X-Content-Type-Options', 'nosniff'];
  const inm = req.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    res.writeHead(304, cache);
    res.end();
    return;
  }
  res.writeHead(200, [...cache, 'Content-Type', p.contentType, 'Content-Length', String(p.body.length)]);
  if (req.method === 'HEAD') res.end();
  else res.end(p.body);
}

/** An AbortSignal that fires when the client goes away before the response is finished. */
export function clientGone(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  req.once('aborted', () => ac.abort());
  return ac.signal;
}

/** Below this, a JSON answer goes out as it is (compressing costs more than it saves). */
const GZIP_FROM = 64 * 1024;

/** What `sendJsonText` sends for one text: the bytes as they are, and gzipped when worth it. */
interface Encoded {
  raw: Buffer;
  gz: Buffer | null;
  type: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';

async function encode(body: string | Uint8Array, type: string): Promise<Encoded> {
  const raw =
    typeof body === 'string'
      ? Buffer.from(body, 'utf8')
      : Buffer.from(body.buffer, body.byteOffset, body.length);
  return { raw, gz: raw.length >= GZIP_FROM ? await gzipAsync(raw, { level: 1 }) : null, type };
}

function sendEncoded(
  req: IncomingMessage,
  res: ServerResponse,
  e: Encoded,
  extra: readonly string[] = [],
): void {
  const accepts = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = accepts && e.gz ? e.gz : e.raw;
  const headers = [
    ...extra,
    'Content-Type',
    e.type,
    'Content-Length',
    String(body.length),
    'Vary',
    'Accept-Encoding',
  ];
  if (body === e.gz) headers.push('Content-Encoding', 'gzip');
  res.writeHead(200, headers);
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}

const ifNoneMatch = (req: IncomingMessage, etag: string): boolean =>
  String(req.headers['if-none-match'] ?? '')
    .split(',')
    .some((t) => t.trim() === etag || t.trim() === `W/${etag}`);

/**
 * Large answers that many readers ask for unchanged (a slide's annotation list, as JSON or packed), kept encoded
 * per node by a key that changes whenever their content does (the caller's version, such as the
 * annotation log's last seq). A hit costs no query of the documents, no joining and no gzip; a
 * client that has the version answers 304. Bounded by total bytes, least recently used out first.
 */
export class EncodedAnswerCache {
  private readonly entries = new Map<string, Encoded>();
  private bytes = 0;

  constructor(private readonly maxBytes = 64 * 1024 * 1024) {}

  /**
   * Answer with the JSON of version `key`, built by `build` on a miss. `Cache-Control: private,
   * no-cache`: a browser keeps it and asks each time whether it is still current.
   */
  async send(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    build: () => Promise<string | Uint8Array>,
    type = JSON_TYPE,
  ): Promise<void> {
    const etag = `"${createHash('sha256').update(key).digest('base64url').slice(0, 22)}"`;
    const extra = ['ETag', etag, 'Cache-Control', 'private, no-cache'];
    if (ifNoneMatch(req, etag)) {
      res.writeHead(304, extra);
      res.end();
      return;
    }
    let e = this.entries.get(key);
    if (e) {
      // Most recently used last.
      this.entries.delete(key);
      this.entries.set(key, e);
    } else {
      e = await encode(await build(), type);
      this.put(key, e);
    }
    sendEncoded(req, res, e, extra);
  }

  private put(key: string, e: Encoded): void {
    const size = e.raw.length + (e.gz?.length ?? 0);
    if (size > this.maxBytes / 4) return;
    if (this.entries.has(key)) return;
    this.entries.set(key, e);
    this.bytes += size;
    for (const [k, old] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= old.raw.length + (old.gz?.length ?? 0);
    }
  }

  /** Entries held (for tests). */
  get size(): number {
    return this.entries.size;
  }
}

/**
 * Until the client has taken what was written, or has gone (or the response failed: the caller sees
 * it destroyed). Both waits are removed once one ends: `once` alone leaves a listener on the event
 * that did not come, and a thousand frames piled them up on one response.
 */
export async function drained(res: ServerResponse): Promise<void> {
  const ac = new AbortController();
  const wait = (event: string) => once(res, event, { signal: ac.signal }).catch(() => undefined);
  try {
    await Promise.race([wait('drain'), wait('close')]);
  } finally {
    ac.abort();
  }
}
