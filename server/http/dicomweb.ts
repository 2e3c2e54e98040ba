import { type Request, type Response, Router } from 'express';
import { exportDicomSeries } from '../../tiles/export/dicom.ts';
import type { ServerContext } from '../context.ts';
import {
  frameMedia,
  instanceMedia,
  jsonMedia,
  multipartEnd,
  multipartType,
  newBoundary,
  partHead,
  PART_SEPARATOR,
  renderedMedia,
} from '../dicomweb/media.ts';
import { parseQido } from '../dicomweb/query.ts';
import {
  DicomWeb,
  type DicomPath,
  MAX_SLIDES_EXAMINED,
  type QidoLevel,
  type Reached,
} from '../dicomweb/service.ts';
import { clientIp, principal } from './auth.ts';
import { viewed } from './audit-view.ts';
import { HttpError } from './errors.ts';
import { clientGone, drained, sendPayload } from './send.ts';

/** Frames, renders: the same UIDs always name the same pixels, but access may end. */
const PIXELS_CACHE = 'private, max-age=3600';

/**
 * DICOMweb (read) under /dicomweb: QIDO-RS searches, WADO-RS metadata, frames, rendered images and
 * thumbnails (server/dicomweb). Only signed-in users (cookie or bearer token), only the slides they
 * may see, de-identified as their grant says; searches are audited as `dicomweb.search`, reads as
 * slide views.
 */
export function dicomwebRouter(ctx: ServerContext): Router {
  const r = Router();
  const web = new DicomWeb(ctx, ctx.rights);

  r.use((_req, res, next) => {
    principal(res);
    next();
  });

  const base = (req: Request): string => {
    const root = ctx.config.publicUrl
      ? ctx.config.publicUrl.replace(/\/+$/, '')
      : `${req.protocol}://${req.get('host') ?? 'localhost'}`;
    return `${root}/dicomweb`;
  };
  const pathOf = (req: Request): DicomPath => {
    const p = req.params as Record<string, string | undefined>;
    return { study: p.study, series: p.series, instance: p.instance };
  };
  const audit = (req: Request, res: Response, at: Reached): Promise<void> =>
    viewed(ctx, req, principal(res), at.slideId, at.siteId, 'dicomweb');

  const search = (level: QidoLevel) => async (req: Request, res: Response) => {
    const p = principal(res);
    const type = jsonMedia(req.get('accept'));
    const q = parseQido(req.query as Record<string, string | string[]>);
    const { results, more, cut, reached } = await web.search(p, level, pathOf(req), q, base(req));
    await ctx.audit.record({
      action: 'dicomweb.search',
      actor: p.user,
      ip: clientIp(req),
      detail: {
        level,
        path: req.path.slice(0, 300),
        query: JSON.stringify(req.query).slice(0, 500),
        results: results.length,
        slides: reached.map((x) => x.slideId).slice(0, 50),
        credential: p.via,
      },
    });
    if (more) res.setHeader('Warning', '299 tessera "There are additional results that can be requested"');
    else if (cut)
      res.setHeader(
        'Warning',
        `299 tessera "The search looked at the newest ${MAX_SLIDES_EXAMINED} slides only; add StudyInstanceUID, AccessionNumber, PatientID or StudyDate to search them all"`,
      );
    res.setHeader('Cache-Control', 'private, no-cache');
    res.type(type).send(JSON.stringify(results));
  };
  r.get('/studies', search('study'));
  r.get('/series', search('series'));
  r.get('/instances', search('instance'));
  r.get('/studies/:study/series', search('series'));
  r.get('/studies/:study/instances', search('instance'));
  r.get('/studies/:study/series/:series/instances', search('instance'));

  const metadata = async (req: Request, res: Response) => {
    const type = jsonMedia(req.get('accept'));
    const { datasets, reached } = await web.metadata(principal(res), pathOf(req), base(req));
    await audit(req, res, reached);
    res.setHeader('Cache-Control', 'private, no-cache');
    res.type(type).send(JSON.stringify(datasets));
  };
  r.get('/studies/:study/metadata', metadata);
  r.get('/studies/:study/series/:series/metadata', metadata);
  r.get('/studies/:study/series/:series/instances/:instance/metadata', metadata);

  r.get('/studies/:study/series/:series/instances/:instance/frames/:frames', async (req, res) => {
    const p = principal(res);
    const { numbers, frame, reached } = await web.frames(p, pathOf(req), String(req.params.frames));
    const media = frameMedia(req.get('accept'), numbers.length);
    await audit(req, res, reached);
    if (!media.multipart) {
      const body = await frame(numbers[0]!);
      res.setHeader('Cache-Control', PIXELS_CACHE);
      res.type('image/jpeg').send(body);
      return;
    }
    // The first frame before any header: a frame that cannot be read is a plain error.
    let body = await frame(numbers[0]!);
    const boundary = newBoundary();
    res.writeHead(200, {
      'Content-Type': multipartType(media.partType, boundary),
      'Cache-Control': PIXELS_CACHE,
    });
    const url = `${base(req)}${req.path}`.replace(/\/frames\/[^/]*$/, '/frames/');
    try {
      for (let i = 0; i < numbers.length; i++) {
        if (res.destroyed) return;
        if (i > 0) {
          body = await frame(numbers[i]!);
          res.write(PART_SEPARATOR);
        }
        res.write(partHead(boundary, media.partType, `${url}${numbers[i]}`));
        // Frames are read one at a time, only as fast as the client takes them.
        if (!res.write(body)) await drained(res);
      }
      res.end(multipartEnd(boundary));
    } catch (e) {
      ctx.log(`dicomweb frames failed: ${e instanceof Error ? e.message : String(e)}`);
      res.destroy();
    }
  });

  const retrieve = async (req: Request, res: Response) => {
    const p = principal(res);
    const { slide, only, reached } = await web.retrieve(p, pathOf(req));
    const partType = instanceMedia(req.get('accept'));
    await audit(req, res, reached);
    await ctx.audit.record({
      action: 'slide.export',
      actor: p.user,
      targetType: 'slide',
      targetId: slide.id,
      targetSiteId: slide.grant.siteId,
      ip: clientIp(req),
      detail: { format: 'dicom', via: 'dicomweb', deidentified: slide.grant.deidentified, credential: p.via },
    });
    const series = exportDicomSeries(ctx.store, slide.id, slide.options, only);
    // The first instance before any header: a slide that cannot be exported is a plain error.
    let next = await series.next();
    const boundary = newBoundary();
    res.writeHead(200, {
      'Content-Type': multipartType(partType, boundary),
      'Cache-Control': 'private, no-store',
    });
    try {
      let first = true;
      while (!next.done) {
        if (res.destroyed) return;
        if (!first) res.write(PART_SEPARATOR);
        first = false;
        res.write(partHead(boundary, partType));
        // One instance in memory at a time; the next is built once the client has taken this one.
        if (!res.write(next.value.data)) await drained(res);
        next = await series.next();
      }
      res.end(multipartEnd(boundary));
    } catch (e) {
      ctx.log(`dicomweb retrieve failed: ${e instanceof Error ? e.message : String(e)}`);
      res.destroy();
    } finally {
      if (!next.done) await series.return(undefined);
    }
  };
  r.get('/studies/:study', retrieve);
  r.get('/studies/:study/series/:series', retrieve);
  r.get('/studies/:study/series/:series/instances/:instance', retrieve);

  const render = (kind: 'rendered' | 'thumbnail') => async (req: Request, res: Response) => {
    const p = principal(res);
    const format = renderedMedia(req.get('accept'), queryString(req, 'accept'));
    const { image, reached } = await web.render(p, pathOf(req), kind, queryString(req, 'viewport'), format, {
      signal: clientGone(req, res),
      requester: p.user.id,
    });
    await audit(req, res, reached);
    sendPayload(req, res, image, PIXELS_CACHE);
  };
  for (const kind of ['rendered', 'thumbnail'] as const) {
    r.get(`/studies/:study/${kind}`, render(kind));
    r.get(`/studies/:study/series/:series/${kind}`, render(kind));
    r.get(`/studies/:study/series/:series/instances/:instance/${kind}`, render(kind));
  }

  r.use((req) => {
    throw new HttpError('NOT_FOUND', `no DICOMweb resource ${req.method} ${req.path}`);
  });
  return r;
}

function queryString(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new HttpError('INVALID_PARAMETER', `Expected one value for ${name}`);
  return v;
}
