import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler, Router } from 'express';

/** The built client (vite build → client/dist). */
export const CLIENT_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../client/dist');

/**
 * Serve the built viewer: hashed assets cached for a year, index.html revalidated, and client-side
 * routes (/, /view/…) answered with index.html. API, tile and IIIF paths never fall back to it.
 */
export function clientRouter(dist = CLIENT_DIST): Router {
  const r = Router();
  if (!existsSync(path.join(dist, 'index.html'))) {
    r.get('/', (_req, res) => {
      res
        .status(503)
        .type('text/plain')
        .send('The viewer is not built: run `npm run build` (npm start does this), then reload.\n');
    });
    return r;
  }
  r.use(
    '/assets',
    express.static(path.join(dist, 'assets'), {
      immutable: true,
      maxAge: '365d',
      index: false,
      fallthrough: false,
    }),
  );
  // The icon is asked for again on every change of the page's URL (the viewer writes the view into
  // it as the user pans): a day in the cache keeps those off the six connections tiles need.
  r.use(
    express.static(dist, {
      index: false,
      maxAge: '1d',
      setHeaders: (res, file) => {
        if (file.endsWith('.html')) res.setHeader('Cache-Control', 'no-cache');
      },
    }),
  );
  const index: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (/^\/(api|slides|iiif|assets|socket\.io)(\/|$)/.test(req.path)) return next();
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(path.join(dist, 'index.html'));
  };
  r.get(/^\/(view\/[0-9a-f]{32})?$/, index);
  r.get(/^\/[a-z-]+$/, index);
  return r;
}
