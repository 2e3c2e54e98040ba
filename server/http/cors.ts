import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';

/**
 * Deep Zoom, IIIF (descriptors, info.json, tiles, images, manifests) and DICOMweb: image data that
 * IIIF and DICOM viewers on any origin read (Slim and dicom-microscopy-viewer are served from their
 * own sites). `Access-Control-Allow-Origin: *` is safe for them: a browser never lets a page read a
 * credentialed (cookie) answer that `*` allows, so another origin only reads what a bearer token it
 * holds lets it read. Only GET and HEAD pass the preflight: nothing is written cross-origin.
 */
export function isImagePath(path: string): boolean {
  return (
    path.startsWith('/slides/') ||
    path.startsWith('/iiif/') ||
    path === '/dicomweb' ||
    path.startsWith('/dicomweb/')
  );
}

/**
 * Response headers a page on another origin may read. Warning: QIDO-RS says more results remain (or
 * a search was cut short) in it, and DICOMweb clients read it.
 */
const EXPOSED = 'ETag, Content-Length, X-Request-Id, Retry-After, Warning';

/** The image routes' CORS headers; also set by the Deep Zoom tile fast path, before Express. */
export function openImageCors(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Expose-Headers', EXPOSED);
}

function preflight(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
  // Named: a `*` here does not cover Authorization, and DICOMweb's Accept values (quoted types)
  // are not ones a browser sends without asking.
  res.setHeader('Access-Control-Allow-Headers', 'Authorization, If-None-Match, Content-Type, Accept');
  res.setHeader('Access-Control-Max-Age', '600');
  res.statusCode = 204;
  res.end();
}

/**
 * CORS. Image routes (isImagePath) answer every origin with `*`; the API answers only the origins
 * configured (comma-separated; none = same origin only), named one by one and never with `*` (config
 * refuses it). Only GET/HEAD are allowed cross-origin, and credentials are never allowed.
 */
export function cors(originsCsv: string): RequestHandler {
  const allowed = new Set(
    originsCsv
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  return (req, res, next) => {
    if (isImagePath(req.path)) {
      openImageCors(res);
      if (req.method === 'OPTIONS') return preflight(res);
      return next();
    }
    if (allowed.size === 0) return next();
    res.vary('Origin');
    const origin = req.headers.origin;
    if (origin && origin !== '*' && allowed.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', EXPOSED);
      if (req.method === 'OPTIONS') return preflight(res);
    }
    next();
  };
}
