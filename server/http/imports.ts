import { Router, json } from 'express';
import { DicomwebImportSchema } from '../../protocol/index.ts';
import type { Principal } from '../auth/auth.ts';
import type { ServerContext } from '../context.ts';
import { DicomwebImports } from '../dicom-in/import.ts';
import { clientIp, parseBody, requireRole } from './auth.ts';

const mayImport = (p: Principal): boolean => p.user.role === 'admin' || p.user.role === 'lab_manager';

/**
 * Imports from a DICOMweb archive (server/dicom-in/import.ts), for administrators and lab managers:
 * the configured archives, and `POST /imports/dicomweb {source, study, series?}` → 202 with a job per
 * slide series, followed at `/api/jobs/{id}` like an upload's.
 */
export function importsRouter(ctx: ServerContext): Router {
  const r = Router();
  const imports = new DicomwebImports(ctx);
  const body = json({ limit: '16kb' });

  r.get('/imports/dicomweb/sources', (_req, res) => {
    requireRole(res, mayImport, 'import slides from an archive');
    res.json(imports.sources());
  });

  r.post('/imports/dicomweb', body, async (req, res) => {
    const p = requireRole(res, mayImport, 'import slides from an archive');
    const asked = parseBody(DicomwebImportSchema, req.body ?? {});
    const accepted = await imports.start(p, asked, clientIp(req));
    res.status(202).json(accepted);
  });

  return r;
}
