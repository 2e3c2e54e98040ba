import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type RequestHandler, type Response, Router } from 'express';

/** The built client (vite build → client/dist). */
export const CLIENT_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../client/dist');

/**
 * Serve the built viewer: hashed assets cached for a year, index.html revalidated, and client-side
 * routes (/, /view/…) answered with index.html. API, tile and IIIF paths never fall back to it.
 */
/**
 * What a slide's page carries for the asking user: the slide's API answer, or null (signed out, not
 * visible), in which case the page asks the API itself and shows that answer.
 */
export type SlideForPage = (req: Request, res: Response, id: string) => Promise<unknown>;

/** The element of a slide's page that carries the slide (a JSON data block, never run as script). */
export const EMBEDDED_SLIDE_ID = 'tessera-slide';

export function clientRouter(dist = CLIENT_DIST, slideForPage?: SlideForPage): Router {
  // A client built after the server started is served from then on, without a restart.
  const r = Router();
  let built: Router | null = null;
  r.use((req, res, next) => {
    if (!built && existsSync(path.join(dist, 'index.html'))) built = builtClientRouter(dist, slideForPage);
    if (built) return built(req, res, next);
    if (req.method === 'GET' && req.path === '/')
      return res
        .status(503)
        .type('text/plain')
        .send('The viewer is not built: run `npm run build` (npm start does this), then reload.\n');
    next();
  });
  return r;
}

function builtClientRouter(dist: string, slideForPage?: SlideForPage): Router {
  const r = Router();
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
  // A slide's page names the viewer's code, so the browser fetches it alongside the main script
  // instead of after that has run, and carries the slide for the signed-in user.
  const page = viewerPage(dist);
  r.get(/^\/view\/([0-9a-f]{32})$/, async (req, res) => {
    const id = (req.params as Record<string, string>)[0]!;
    const slide = slideForPage ? await slideForPage(req, res, id).catch(() => null) : null;
    // With the slide in it, the page is this user's answer: never kept.
    res.setHeader('Cache-Control', slide ? 'private, no-store' : 'no-cache');
    res.type('html').send(page(slide));
  });
  r.get(/^\/$/, index);
  r.get(/^\/[a-z-]+$/, index);
  r.get(/^\/cases\/[^/]+$/, index);
  return r;
}

interface ManifestEntry {
  file: string;
  css?: string[];
  imports?: string[];
}

/**
 * index.html for a slide's page: preload hints for the viewer chunk and the chunks and styles it
 * imports (from Vite's build manifest), and the slide itself when given (no API round trip before
 * the first tiles). index.html and the manifest are read once per build
 * of the client (the file's modification time), so a rebuild needs no restart.
 */
function viewerPage(dist: string): (slide: unknown) => string {
  let cached: { mtimeMs: number; head: string; html: string } | null = null;
  const load = (): { head: string; html: string } => {
    const file = path.join(dist, 'index.html');
    const mtimeMs = statSync(file).mtimeMs;
    if (cached?.mtimeMs === mtimeMs) return cached;
    const html = readFileSync(file, 'utf8');
    const links: string[] = [];
    try {
      const manifest = JSON.parse(readFileSync(path.join(dist, '.vite', 'manifest.json'), 'utf8')) as Record<
        string,
        ManifestEntry
      >;
      const seen = new Set<string>();
      const visit = (key: string): void => {
        const e = manifest[key];
        if (!e || seen.has(key) || key === 'index.html') return;
        seen.add(key);
        links.push(`<link rel="modulepreload" href="/${e.file}">`);
        for (const c of e.css ?? []) links.push(`<link rel="preload" as="style" href="/${c}">`);
        for (const i of e.imports ?? []) visit(i);
      };
      visit('src/viewer/ViewerPage.tsx');
    } catch {
      // No build manifest: the page works the same, a little later.
    }
    cached = { mtimeMs, head: links.join(''), html };
    return cached;
  };
  return (slide) => {
    const { head, html } = load();
    // JSON in a data block: `<` escaped, so nothing in it can close the element.
    const data =
      slide === null
        ? ''
        : `<script type="application/json" id="${EMBEDDED_SLIDE_ID}">${JSON.stringify(slide).replace(/</g, '\\u003c')}</script>`;
    return html.replace('</head>', `${head}${data}</head>`);
  };
}
