import { type Request, type Response, Router, json } from 'express';
import {
  AddLeaveSchema,
  AdminCreateUserSchema,
  AdminUpdateUserSchema,
  AdminCreateSiteSchema,
  RenameSiteSchema,
  ResetPasswordSchema,
  ROLES,
  type Role,
  SITE_ID,
} from '../../protocol/index.ts';
import { type Actor, AdminService } from '../admin/service.ts';
import type { ServerContext } from '../context.ts';
import { clientIp, parseBody, principal } from './auth.ts';
import { HttpError } from './errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function uuid(raw: unknown, what: string): string {
  const id = String(raw);
  if (!UUID.test(id)) throw new HttpError('INVALID_PARAMETER', `Expected a ${what} id (UUID)`);
  return id;
}

function siteParam(raw: unknown): string {
  const id = String(raw);
  if (!SITE_ID.test(id)) throw new HttpError('INVALID_PARAMETER', 'Expected a site id');
  return id;
}

function optional(q: unknown, name: string, ok: (v: string) => boolean): string | undefined {
  if (q === undefined || q === '') return undefined;
  if (typeof q !== 'string' || !ok(q))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected ${name} to be valid but received ${JSON.stringify(String(q).slice(0, 40))}`,
    );
  return q;
}

/** /api/admin: people, leave and sites (rules in AdminService; this file translates HTTP only). */
export function adminRouter(ctx: ServerContext): Router {
  const r = Router();
  const admin = new AdminService({ db: ctx.db, audit: ctx.audit, rights: ctx.rights });
  const body = json({ limit: '16kb' });
  const actor = (req: Request, res: Response): Actor => ({ user: principal(res).user, ip: clientIp(req) });

  r.get('/admin/users', async (req, res) => {
    const enabled = optional(req.query.enabled, 'enabled', (v) => v === 'true' || v === 'false');
    const role = optional(req.query.role, 'role', (v) => (ROLES as readonly string[]).includes(v));
    res.json(
      await admin.listUsers(actor(req, res), {
        q: optional(req.query.q, 'q', (v) => v.length <= 64),
        site: optional(req.query.site, 'site', (v) => SITE_ID.test(v)),
        ...(role ? { role: role as Role } : {}),
        ...(enabled ? { enabled: enabled === 'true' } : {}),
      }),
    );
  });

  r.post('/admin/users', body, async (req, res) => {
    const a = actor(req, res);
    res.status(201).json(await admin.createUser(a, parseBody(AdminCreateUserSchema, req.body)));
  });

  r.get('/admin/users/:id', async (req, res) => {
    res.json(await admin.user(actor(req, res), uuid(req.params.id, 'user')));
  });

  r.patch('/admin/users/:id', body, async (req, res) => {
    const a = actor(req, res);
    const id = uuid(req.params.id, 'user');
    res.json(await admin.updateUser(a, id, parseBody(AdminUpdateUserSchema, req.body)));
  });

  r.post('/admin/users/:id/disable', async (req, res) => {
    res.json(await admin.setDisabled(actor(req, res), uuid(req.params.id, 'user'), true));
  });

  r.post('/admin/users/:id/enable', async (req, res) => {
    res.json(await admin.setDisabled(actor(req, res), uuid(req.params.id, 'user'), false));
  });

  r.post('/admin/users/:id/password', body, async (req, res) => {
    const a = actor(req, res);
    const id = uuid(req.params.id, 'user');
    const { password } = parseBody(ResetPasswordSchema, req.body ?? {});
    // The made-up password is in this answer only: never cached anywhere on the way.
    res.set('Cache-Control', 'no-store');
    res.json(await admin.resetPassword(a, id, password));
  });

  r.post('/admin/users/:id/leave', body, async (req, res) => {
    const a = actor(req, res);
    const id = uuid(req.params.id, 'user');
    res.status(201).json(await admin.addLeave(a, id, parseBody(AddLeaveSchema, req.body)));
  });

  r.delete('/admin/users/:id/leave/:leaveId', async (req, res) => {
    const a = actor(req, res);
    res.json(await admin.removeLeave(a, uuid(req.params.id, 'user'), uuid(req.params.leaveId, 'leave')));
  });

  r.get('/admin/sites', async (req, res) => {
    res.json(await admin.listSites(actor(req, res)));
  });

  r.post('/admin/sites', body, async (req, res) => {
    const a = actor(req, res);
    res.status(201).json(await admin.createSite(a, parseBody(AdminCreateSiteSchema, req.body)));
  });

  r.patch('/admin/sites/:id', body, async (req, res) => {
    const a = actor(req, res);
    const id = siteParam(req.params.id);
    res.json(await admin.renameSite(a, id, parseBody(RenameSiteSchema, req.body).name));
  });

  return r;
}
