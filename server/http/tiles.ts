import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Request, type Response, Router } from 'express';
import { ASSOCIATED_NAMES, type AssociatedName } from '../../protocol/index.ts';
import { type TileService, isRenderQueueFull } from '../../tiles/serve/index.ts';
import { type SlideGrant, isIdentifyingImage } from '../auth/access.ts';
import { CasePageService } from '../cases/case-page.ts';
import { type ManifestAnswer, IiifManifests } from '../iiif/manifests.ts';
import { principal } from './auth.ts';
import { openImageCors } from './cors.ts';
import { viewed, viewedAfterAnswer } from './audit-view.ts';
import type { ServerContext } from '../context.ts';
import { HttpError } from './errors.ts';
import { IMMUTABLE, clientGone, sendPayload } from './send.ts';

const DZI_TILE = /^\/slides\/([^/]+)_files\/([^/]+)\/([^/]+)\.jpeg$/;
const DZI_DESCRIPTOR = /^\/slides\/([^/]+)\.dzi$/;
const SLIDE_ID = /^[0-9a-f]{32}$/;
const CASE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PRESENTATION_LD = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"';
const INT = /^(0|[1-9][0-9]{0,8})$/;

/**
 * The hot path: `GET /slides/{id}_files/{level}/{col}_{row}.jpeg` answered on bare node:http objects,
 * before Express builds its request wrappers. Returns false for anything else.
 */
export function dziTileFastPath(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const url = req.url ?? '';
  if (!url.startsWith('/slides/')) return false;
  const q = url.indexOf('?');
  const m = DZI_TILE.exec(q === -1 ? url : url.slice(0, q));
  if (!m) return false;
  openImageCors(res);
  const [, id, level, colRow] = m as unknown as [string, string, string, string];
  const us = colRow.indexOf('_');
  const col = colRow.slice(0, us);
  const row = colRow.slice(us + 1);
  if (!SLIDE_ID.test(id) || !INT.test(level) || us < 0 || !INT.test(col) || !INT.test(row)) {
    sendError(
      res,
      400,
      'INVALID_PARAMETER',
      `Expected /slides/{id}_files/{level}/{col}_{row}.jpeg with integers but received ${JSON.stringify(url.slice(0, 120))}`,
    );
    return true;
  }
  const [l, c, r] = [Number(level), Number(col), Number(row)];
  // Nearly every tile of a session: who is asking, their access and the tile were all looked up in
  // the last seconds, so the answer goes out in this tick, without a promise or a file read.
  const known = ctx.auth.cached(req);
  if (known === null) {
    sendError(res, 401, 'UNAUTHENTICATED', 'sign in first');
    return true;
  }
  if (known) {
    const grant = ctx.access.cachedGrant(known, id);
    if (grant === null) {
      sendError(res, 404, 'SLIDE_NOT_FOUND', `no slide ${id}`);
      return true;
    }
    const tile = grant && ctx.tiles.cachedDziTile(id, l, c, r);
    if (grant && tile) {
      viewedAfterAnswer(ctx, req, res, known, id, grant.siteId, 'tiles');
      sendPayload(req, res, tile, cacheControl(tile));
      return true;
    }
  }
  void (async () => {
    const p = await ctx.auth.resolve(req);
    if (!p) return sendError(res, 401, 'UNAUTHENTICATED', 'sign in first');
    const grant = await ctx.access.grant(p, id);
    if (!grant) return sendError(res, 404, 'SLIDE_NOT_FOUND', `no slide ${id}`);
    viewedAfterAnswer(ctx, req, res, p, id, grant.siteId, 'tiles');
    const who = { signal: () => clientGone(req, res), requester: p.user.id };
    const tile = await withSource(ctx, id, () => ctx.tiles.dziTile(id, l, c, r, who));
    if (tile) sendPayload(req, res, tile, cacheControl(tile));
    else sendError(res, 404, 'NOT_FOUND', `no tile ${level}/${col}_${row} in slide ${id}`);
  })().catch((e: unknown) => {
    const code = (e as { code?: string }).code;
    if (e instanceof HttpError) {
      if (e.status === 503 && !res.headersSent) res.setHeader('Retry-After', '5');
      sendError(res, e.status, e.code, e.message);
    } else if (code === 'SLIDE_NOT_FOUND') sendError(res, 404, 'SLIDE_NOT_FOUND', `no slide ${id}`);
    else if (isRenderQueueFull(e)) {
      if (!res.headersSent) res.setHeader('Retry-After', String(e.retryAfterSeconds));
      sendError(res, 503, e.code, e.message);
    } else {
      if (!res.headersSent && !res.destroyed) sendError(res, 500, 'INTERNAL', 'internal error');
      ctx.log(`tile ${id} ${level}/${colRow} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return true;
}

/**
 * Tiles made from a slide's source while it converts: the same URL gives the stored tile once it is
 * published (another ETag), so clients revalidate rather than keep them for a year.
 */
const PROVISIONAL = 'private, no-cache';

function cacheControl(tile: { provisional?: true }): string {
  return tile.provisional ? PROVISIONAL : IMMUTABLE;
}

/**
 * Run a tile service call for a slide the user may see; when the service has no pixels for it, the
 * slide may be served from its source here after all (opened, then asked again), or be failed (410)
 * or converting on another node (503).
 */
async function withSource<T>(ctx: ServerContext, id: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if ((e as { code?: string }).code !== 'SLIDE_NOT_FOUND') throw e;
    const why = await ctx.provisional.missing(id);
    if (why === 'retry') return call();
    if (why) throw new HttpError(why.code, why.message, why.status);
    throw e;
  }
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify({ code, message });
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * A render refused because too many wait: the domain error becomes 503 SERVER_BUSY (through the error
 * middleware), with the scheduler's estimate as Retry-After.
 */
async function rendering<T>(res: Response, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (isRenderQueueFull(e)) res.setHeader('Retry-After', String(e.retryAfterSeconds));
    throw e;
  }
}

function slideId(raw: unknown): string {
  const id = String(raw);
  if (!SLIDE_ID.test(id)) {
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected a slide id (32 hex digits) but received ${JSON.stringify(id.slice(0, 64))}`,
    );
  }
  return id;
}

/**
 * IIIF identifiers: the Image API answers an identifier it does not know with 404, whatever its
 * shape, so a malformed one is "no such image" here rather than a bad parameter.
 */
function iiifId(raw: unknown): string {
  const id = String(raw);
  if (!SLIDE_ID.test(id))
    throw new HttpError('SLIDE_NOT_FOUND', `no image ${JSON.stringify(id.slice(0, 64))}`);
  return id;
}

/** Base URL for IIIF ids: configured, or from the request (never a filesystem path). */
function baseUrl(
  ctx: ServerContext,
  req: { protocol: string; get(name: string): string | undefined },
): string {
  if (ctx.config.publicUrl) return ctx.config.publicUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

/** Deep Zoom descriptors, IIIF Image API 3 and Presentation 3 manifests, thumbnails and associated images. */
export function tilesRouter(ctx: ServerContext, tiles: TileService): Router {
  const r = Router();

  // Tiles that the fast path did not take (it takes all well-formed ones) end here with a 400.
  r.get(/^\/slides\/.*_files\/.*$/, (req, res) => {
    if (!dziTileFastPath(ctx, req, res)) throw new HttpError('INVALID_PARAMETER', 'malformed tile path');
  });

  /** The slide's grant for the asking user: 401 without credentials, 404 when not visible. */
  const visible = async (
    req: IncomingMessage,
    res: Response,
    id: string,
    via: string,
  ): Promise<SlideGrant> => {
    const p = principal(res);
    const grant = await ctx.access.grant(p, id);
    if (!grant) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);
    viewedAfterAnswer(ctx, req, res, p, id, grant.siteId, via);
    return grant;
  };

  r.get(/^\/slides\/[^/]+\.dzi$/, async (req, res) => {
    const m = DZI_DESCRIPTOR.exec(req.path);
    const id = slideId(m?.[1]);
    await visible(req, res, id, 'dzi');
    const xml = await withSource(ctx, id, async () => {
      const d = await tiles.dziDescriptor(id);
      if (d === null) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);
      return d;
    });
    sendPayload(req, res, {
      body: Buffer.from(xml),
      contentType: 'application/xml; charset=utf-8',
      etag: `dzi-${id}`,
    });
  });

  const manifests = new IiifManifests({
    access: ctx.access,
    tiles,
    cases: new CasePageService({ db: ctx.db, access: ctx.access, cases: ctx.cases }),
  });

  /** A Presentation manifest, its slides recorded as viewed like info.json's. */
  const sendManifest = async (req: Request, res: Response, answer: ManifestAnswer): Promise<void> => {
    const p = principal(res);
    for (const s of answer.shown) await viewed(ctx, req, p, s.slideId, s.siteId, 'iiif-manifest');
    const ld = String(req.headers.accept ?? '').includes('application/ld+json');
    // Labels follow the user's grants, which a revoked share changes: never kept.
    res.setHeader('Cache-Control', 'private, no-store');
    res.type(ld ? PRESENTATION_LD : 'application/json').send(JSON.stringify(answer.manifest));
  };

  r.get('/iiif/3/cases/:caseId/manifest.json', async (req, res) => {
    const caseId = String(req.params.caseId);
    if (!CASE_ID.test(caseId)) throw new HttpError('NOT_FOUND', 'no such case');
    await sendManifest(req, res, await manifests.case(principal(res), caseId, baseUrl(ctx, req)));
  });

  r.get('/iiif/3/:id/manifest.json', async (req, res) => {
    const id = iiifId(req.params.id);
    const answer = await manifests.slide(principal(res), id, baseUrl(ctx, req));
    if (!answer) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);
    await sendManifest(req, res, answer);
  });

  r.get('/iiif/3/:id', async (req, res) => {
    const id = iiifId(req.params.id);
    await visible(req, res, id, 'iiif');
    res.redirect(303, `${baseUrl(ctx, req)}/iiif/3/${id}/info.json`);
  });

  r.get('/iiif/3/:id/info.json', async (req, res) => {
    const id = iiifId(req.params.id);
    await visible(req, res, id, 'iiif');
    const base = `${baseUrl(ctx, req)}/iiif/3/${id}`;
    const info = await withSource(ctx, id, async () => {
      const i = await tiles.iiifInfo(id, base);
      if (!i) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);
      return i;
    });
    const body = Buffer.from(JSON.stringify(info));
    const ld = String(req.headers.accept ?? '').includes('application/ld+json');
    // The id in info.json depends on the host asked, so revalidate instead of caching for a year.
    sendPayload(
      req,
      res,
      {
        body,
        contentType: ld
          ? 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
          : 'application/json',
        etag: `info-${id}-${Buffer.from(base).toString('base64url')}`,
      },
      'private, max-age=3600',
    );
  });

  r.get('/iiif/3/:id/:region/:size/:rotation/:qf', async (req, res) => {
    const id = iiifId(req.params.id);
    await visible(req, res, id, 'iiif');
    const { region, size, rotation, qf } = req.params;
    const img = await rendering(
      res,
      withSource(ctx, id, () =>
        tiles.iiifImage(id, String(region), String(size), String(rotation), String(qf), {
          signal: clientGone(req, res),
          requester: principal(res).user.id,
        }),
      ),
    );
    sendPayload(req, res, img, cacheControl(img));
  });

  r.get('/api/slides/:id/thumbnail', async (req, res) => {
    const id = slideId(req.params.id);
    await visible(req, res, id, 'thumbnail');
    const raw = req.query.max;
    const max = raw === undefined ? 512 : Number(raw);
    if (!Number.isInteger(max) || max < 1 || max > 2048) {
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected integer between 1 and 2048 for max but received ${JSON.stringify(String(raw).slice(0, 32))}`,
      );
    }
    const img = await rendering(
      res,
      withSource(ctx, id, async () => {
        const t = await tiles.thumbnail(id, max, {
          signal: clientGone(req, res),
          requester: principal(res).user.id,
        });
        if (!t) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);
        return t;
      }),
    );
    sendPayload(req, res, img, cacheControl(img));
  });

  r.get('/api/slides/:id/associated/:name', async (req, res) => {
    const id = slideId(req.params.id);
    const name = String(req.params.name).replace(/\.jpe?g$/, '');
    if (!(ASSOCIATED_NAMES as readonly string[]).includes(name)) {
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected one of ${ASSOCIATED_NAMES.join(', ')} for name but received ${JSON.stringify(String(req.params.name).slice(0, 32))}`,
      );
    }
    const grant = await visible(req, res, id, `associated/${name}`);
    // Label and macro may carry the patient's name or barcode: never through a de-identified share.
    if (grant.deidentified && isIdentifyingImage(name))
      throw new HttpError('NOT_FOUND', `slide ${id} has no ${name} image`);
    const img = await tiles.associated(id, name as AssociatedName);
    if (!img) throw new HttpError('NOT_FOUND', `slide ${id} has no ${name} image`);
    sendPayload(req, res, img);
  });

  return r;
}
