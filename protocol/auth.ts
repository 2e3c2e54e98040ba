import { z } from 'zod';

/**
 * Accounts, sites, shares and audit: the contract between server, CLI and client.
 *
 * Routes (all JSON; every one but /api/auth/state, /api/auth/login and /api/health needs a session
 * cookie or an `Authorization: Bearer <token>` header, else 401 UNAUTHENTICATED):
 *   GET    /api/auth/state            AuthStateDto (public: whether the first admin still has to be made)
 *   POST   /api/auth/login            LoginRequest → MeDto, sets the httpOnly SameSite=Strict cookie
 *   POST   /api/auth/logout           204, clears the cookie and ends the session
 *   GET    /api/auth/me               MeDto
 *   GET    /api/sites                 SiteDto[]
 *   POST   /api/sites                 CreateSiteRequest → SiteDto            (admin)
 *   GET    /api/users                 UserDto[]  (everyone: to pick whom to share with)
 *   POST   /api/users                 CreateUserRequest → UserDto            (admin)
 *   PATCH  /api/users/{id}            UpdateUserRequest → UserDto            (admin)
 *   GET    /api/slides/{id}/shares    ShareDto[]                             (who may share the slide)
 *   POST   /api/slides/{id}/shares    CreateShareRequest → ShareDto (201)    (who may share the slide)
 *   DELETE /api/shares/{id}           204 (revokes)                          (who may share the slide)
 *   GET    /api/audit?…               AuditPage                              (admin, lab_manager)
 * A slide the user may not see answers 404 SLIDE_NOT_FOUND on every route (tiles included); an
 * action the role may not take answers 403 FORBIDDEN.
 */

export const ROLES = ['pathologist', 'specialist', 'lab_manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Role names as people read them. */
export const ROLE_LABELS: Record<Role, string> = {
  pathologist: 'Pathologist',
  specialist: 'Specialist (external reviewer)',
  lab_manager: 'Lab manager',
  admin: 'Administrator',
};

/** What each role may do beyond reading the slides it can see. */
export function permissionsOf(role: Role): Permissions {
  return {
    ingest: role !== 'specialist',
    share: role !== 'specialist',
    audit: role === 'admin' || role === 'lab_manager',
    manageUsers: role === 'admin',
  };
}

export interface Permissions {
  ingest: boolean;
  share: boolean;
  audit: boolean;
  manageUsers: boolean;
}

export const SITE_ID = /^[a-z0-9][a-z0-9-]{0,47}$/;
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export interface SiteDto {
  id: string;
  name: string;
  createdAt: string;
}

export interface UserDto {
  id: string;
  name: string;
  displayName: string;
  role: Role;
  siteId: string;
  siteName: string;
  disabled: boolean;
  createdAt: string;
}

export interface MeDto {
  user: UserDto;
  permissions: Permissions;
}

export interface AuthStateDto {
  /** True while no user exists: the README's `tessera user add … --role admin` makes the first. */
  setupRequired: boolean;
  /** While setup is required: the command that makes the first administrator on this server. */
  setupCommand?: string;
}

export const LoginRequestSchema = z.object({
  name: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
});
export type LoginRequest = z.infer<typeof LoginRequestSchema>;

export const MIN_PASSWORD_LENGTH = 10;

export const CreateSiteRequestSchema = z.object({
  id: z.string().regex(SITE_ID),
  name: z.string().min(1).max(200),
});
export type CreateSiteRequest = z.infer<typeof CreateSiteRequestSchema>;

export const CreateUserRequestSchema = z.object({
  name: z.string().regex(USER_NAME),
  displayName: z.string().min(1).max(200).optional(),
  role: z.enum(ROLES),
  siteId: z.string().regex(SITE_ID),
  password: z.string().min(MIN_PASSWORD_LENGTH).max(1024),
});
export type CreateUserRequest = z.infer<typeof CreateUserRequestSchema>;

export const UpdateUserRequestSchema = z
  .object({
    displayName: z.string().min(1).max(200),
    role: z.enum(ROLES),
    siteId: z.string().regex(SITE_ID),
    disabled: z.boolean(),
    password: z.string().min(MIN_PASSWORD_LENGTH).max(1024),
  })
  .partial();
export type UpdateUserRequest = z.infer<typeof UpdateUserRequestSchema>;

/** A grant of one slide to one user or to every user of one site, until it expires or is revoked. */
export interface ShareDto {
  id: string;
  slideId: string;
  grantee: { kind: 'user'; id: string; name: string } | { kind: 'site'; id: string; name: string };
  /** Label and macro withheld, vendor metadata scrubbed, shown under `studyCode`. */
  deidentified: boolean;
  studyCode: string | null;
  expiresAt: string;
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
}

export const STUDY_CODE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

export const CreateShareRequestSchema = z
  .object({
    /** Exactly one of userId / siteId. */
    userId: z.string().min(1).max(64).optional(),
    siteId: z.string().regex(SITE_ID).optional(),
    /** ISO date-time in the future, at most a year ahead. */
    expiresAt: z.iso.datetime({ offset: true }),
    deidentified: z.boolean(),
    /** Required when de-identified: the name the recipient sees. */
    studyCode: z.string().regex(STUDY_CODE).optional(),
  })
  .refine((s) => (s.userId === undefined) !== (s.siteId === undefined), {
    message: 'give exactly one of userId and siteId',
  })
  .refine((s) => !s.deidentified || s.studyCode !== undefined, {
    message: 'a de-identified share needs a studyCode',
  });
export type CreateShareRequest = z.infer<typeof CreateShareRequestSchema>;

export interface AuditEntryDto {
  id: number;
  at: string;
  userId: string | null;
  userName: string | null;
  siteId: string | null;
  /** e.g. auth.login, auth.login_failed, slide.view, slide.upload, share.create, share.revoke, user.create */
  action: string;
  targetType: string | null;
  targetId: string | null;
  targetSiteId: string | null;
  detail: Record<string, unknown>;
  ip: string | null;
}

/** `GET /api/audit?user=&action=&slide=&from=&to=&before=&limit=`, newest first. */
export interface AuditPage {
  entries: AuditEntryDto[];
  /** Pass as `before` for the next (older) page; null at the end. */
  next: number | null;
  /** The same place as an opaque cursor: pass as `cursor` (protocol/library.ts). */
  nextCursor?: string | null;
}
