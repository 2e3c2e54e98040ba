import { Router } from 'express';
import type { ServerContext } from '../context.ts';
import { principal } from './auth.ts';
import { HttpError } from './errors.ts';

/** DICOMweb (read): QIDO-RS and WADO-RS under /dicomweb. */
export function dicomwebRouter(_ctx: ServerContext): Router {
  const r = Router();
  r.use((_req, res, next) => {
    principal(res);
    next();
  });
  r.use((req) => {
    throw new HttpError('NOT_FOUND', `no DICOMweb resource ${req.method} ${req.path}`);
  });
  return r;
}
