import type { IncomingMessage, ServerResponse } from 'node:http';

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
