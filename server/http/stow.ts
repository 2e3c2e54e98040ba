import { type Request, type Response, Router } from 'express';
import { permissionsOf } from '../../protocol/index.ts';
import { DICOM_UID } from '../../tiles/index.ts';
import type { ServerContext } from '../context.ts';
import { StowReceiver } from '../dicom-in/stow.ts';
import { clientIp, requireRole } from './auth.ts';
import { HttpError } from './errors.ts';

/**
 * STOW-RS under /dicomweb (server/dicom-in/stow.ts): `POST /studies` and `POST /studies/{study}`,
 * for the users who may upload slides (cookie or bearer token). Each series pushed becomes an
 * ingest job; the answer names the jobs in Link headers (rel="monitor") for whoever wants to follow.
 */
export function stowRouter(ctx: ServerContext): Router {
  const r = Router();
  const stow = new StowReceiver(ctx);

  const store = async (req: Request, res: Response): Promise<void> => {
    const p = requireRole(res, (q) => permissionsOf(q.user.role).ingest, 'store slides (STOW-RS)');
    const study = req.params.study as string | undefined;
    if (study !== undefined && !DICOM_UID.test(study))
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected a Study Instance UID but received ${JSON.stringify(study.slice(0, 80))}`,
      );
    const out = await stow.receive(req, p, { ...(study ? { study } : {}), ip: clientIp(req) });
    if (out.jobs.length)
      res.setHeader('Link', out.jobs.map((id) => `</api/jobs/${id}>; rel="monitor"`).join(', '));
    res.status(out.status).type('application/dicom+json').send(JSON.stringify(out.body));
  };

  r.post('/studies', store);
  r.post('/studies/:study', store);
  return r;
}
