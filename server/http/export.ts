import { Router } from 'express';
import yazl from 'yazl';
import { exportDicomSeries } from '../../tiles/export/dicom.ts';
import type { ServerContext } from '../context.ts';
import { planDicomExport, safeFileName } from '../export/dicom.ts';
import { clientIp, principal } from './auth.ts';
import { viewed } from './audit-view.ts';
import { HttpError } from './errors.ts';
import { drained } from './send.ts';

const SLIDE_ID = /^[0-9a-f]{32}$/;

/** `GET /api/slides/{id}/export?format=dicom`: the slide as a DICOM WSI series in a streamed zip. */
export function exportRouter(ctx: ServerContext): Router {
  const r = Router();
  r.get('/slides/:id/export', async (req, res) => {
    const id = String(req.params.id);
    if (!SLIDE_ID.test(id))
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected a slide id (32 hex digits) but received ${JSON.stringify(id.slice(0, 64))}`,
      );
    const format = String(req.query.format ?? '');
    if (format !== 'dicom')
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected dicom for format but received ${JSON.stringify(format.slice(0, 32))}`,
      );
    const p = principal(res);
    const plan = await planDicomExport(ctx, p, id, clientIp(req));
    await viewed(ctx, req, p, id, plan.grant?.siteId ?? null, 'export');
    const series = exportDicomSeries(ctx.store, id, plan.options);
    // The first instance before any header: a slide that cannot be exported is a plain error.
    let next = await series.next();
    const folder = safeFileName(plan.fileName);
    res.setHeader('Content-Type', 'application/zip');
    res.setHeader('Content-Disposition', `attachment; filename="${folder}-dicom.zip"`);
    res.setHeader('Cache-Control', 'private, no-store');
    const zip = new yazl.ZipFile();
    zip.outputStream.pipe(res);
    try {
      while (!next.done) {
        if (res.destroyed) return;
        // JPEG frames do not deflate: stored, so the zip costs no CPU.
        zip.addBuffer(next.value.data, `${folder}/${next.value.name}`, { compress: false });
        // The next level is read only once the client has taken most of this one.
        if (res.writableNeedDrain) await drained(res);
        next = await series.next();
      }
      zip.end();
    } catch (e) {
      ctx.log(`export ${id} failed: ${e instanceof Error ? e.message : String(e)}`);
      res.destroy();
    } finally {
      if (!next.done) await series.return(undefined);
    }
  });
  return r;
}
