import type { RequestHandler } from 'express';
import { AI_CONTRACT_VERSION } from '../../protocol/index.ts';
import type { Principal, TokenScope } from '../auth/auth.ts';
import { HttpError } from '../http/errors.ts';
import type { AiService } from './service.ts';

const CONTRACT = `/api/ai/v${AI_CONTRACT_VERSION}/slides/`;

/**
 * Whether a job's token may make this request: read its one slide (detail, thumbnail, Deep Zoom,
 * IIIF, DICOMweb under a study's URL; the routes' own access checks then apply the scope's grant),
 * and use the contract's routes (which check that the job and slide are its own). Nothing else:
 * no listing, no search, no annotation, no account route.
 */
export function allowedForScope(s: TokenScope, method: string, path: string): boolean {
  const read = method === 'GET' || method === 'HEAD';
  if (path.startsWith(CONTRACT)) return read || method === 'POST' || method === 'PUT';
  if (!read) return false;
  const id = s.slideId;
  return (
    path === '/api/health' ||
    path === `/api/slides/${id}` ||
    path === `/api/slides/${id}/thumbnail` ||
    path === `/api/slides/${id}/associated/thumbnail` ||
    path === `/slides/${id}.dzi` ||
    path.startsWith(`/slides/${id}_files/`) ||
    path === `/iiif/3/${id}` ||
    path.startsWith(`/iiif/3/${id}/`) ||
    // A study's own URLs (its series, instances, metadata, frames, renders); searches are not.
    /^\/dicomweb\/studies\/[0-9.]{1,64}(\/|$)/.test(path)
  );
}

/**
 * Right after authentication: a request with a job's token that its scope does not allow is
 * refused (403) and audited, and a write attempt fails the job.
 */
export function scopeGuard(ai: () => AiService | undefined): RequestHandler {
  return (req, res, next) => {
    const p = res.locals.principal as Principal | null | undefined;
    if (!p?.scope || allowedForScope(p.scope, req.method, req.path)) return next();
    const refusal = new HttpError(
      'FORBIDDEN',
      `this token reads slide ${p.scope.slideId} and posts job ${p.scope.jobId}'s results, nothing else`,
    );
    const service = ai();
    if (!service) return next(refusal);
    service.contract.outOfScope(p, req.method, req.path, req.ip ?? null).then(
      () => next(refusal),
      (e: unknown) => next(e),
    );
  };
}
