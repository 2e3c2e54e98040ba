import type { RequestHandler } from 'express';

/**
 * CORS for the origins configured (comma-separated); off when none are. Only GET/HEAD of public
 * image data and the API are allowed cross-origin; credentials are never sent cross-origin.
 */
export function cors(originsCsv: string): RequestHandler {
  const allowed = new Set(
    originsCsv
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const any = allowed.has('*');
  return (req, res, next) => {
    if (allowed.size === 0) return next();
    const origin = req.headers.origin;
    if (origin && (any || allowed.has(origin))) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', 'ETag, Content-Length, X-Request-Id');
      if (req.method === 'OPTIONS') {
        res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'Authorization, If-None-Match, Content-Type');
        res.setHeader('Access-Control-Max-Age', '600');
        res.status(204).end();
        return;
      }
    }
    next();
  };
}
