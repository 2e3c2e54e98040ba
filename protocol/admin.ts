import { z } from 'zod';
import { MIN_PASSWORD_LENGTH, ROLES, SITE_ID, USER_NAME, type UserDto } from './auth.ts';
import { SUBSPECIALTIES, type Subspecialty } from './cases.ts';

/**
 * Administration (/admin): people, sites, leave. Administrators manage everyone; a lab manager the
 * people of their own site only (never an administrator, never another site: another site's people
 * answer 404 as unknown ids do). Every change is audited.
 *
 *   GET    /api/admin/users?q=&site=&role=&enabled=true|false   AdminUserDto[]
 *   POST   /api/admin/users                       AdminCreateUserRequest → AdminUserDto (201)
 *   GET    /api/admin/users/{id}                  AdminUserDto
 *   PATCH  /api/admin/users/{id}                  AdminUpdateUserRequest → AdminUserDto
 *   POST   /api/admin/users/{id}/disable          AdminUserDto; ends the user's sessions and sockets at once
 *   POST   /api/admin/users/{id}/enable           AdminUserDto
 *   POST   /api/admin/users/{id}/password         ResetPasswordRequest → ResetPasswordResult
 *   POST   /api/admin/users/{id}/leave            AddLeaveRequest → AdminUserDto (201)
 *   DELETE /api/admin/users/{id}/leave/{leaveId}  AdminUserDto
 *   GET    /api/admin/sites                       SiteDto[] (a lab manager: their own)
 *   POST   /api/admin/sites                       CreateSiteRequest → SiteDto (201)     (admin)
 *   PATCH  /api/admin/sites/{id}                  RenameSiteRequest → SiteDto           (admin)
 *   GET    /api/workload-rules                    WorkloadRuleDto[]                     (lab_manager, admin)
 *   PUT    /api/workload-rules                    WorkloadRulesRequest → WorkloadRuleDto[]
 * Refusals: 400 INVALID_PARAMETER (the field and what it needs), 403 FORBIDDEN, 404 NOT_FOUND,
 * 409 CONFLICT (a name taken, overlapping leave).
 */

/** A period of leave: the days `from` to `to` (YYYY-MM-DD, both included; `to` null: until further notice). */
export interface LeavePeriodDto {
  id: string;
  userId: string;
  from: string;
  to: string | null;
  createdAt: string;
}

/** A person as the admin page shows them. */
export interface AdminUserDto extends UserDto {
  /** Pathologists and specialists: what cases and second opinions they take; [] for other roles. */
  subspecialties: Subspecialty[];
  /** Workload points a week; null for roles without a caseload. */
  weeklyCapacity: number | null;
  leave: LeavePeriodDto[];
  /** A period covers today: balancing and second opinions pass them by. */
  onLeaveToday: boolean;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const realDate = (s: string): boolean => {
  if (!DATE.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
};
const day = (what: string) => z.string().refine(realDate, { message: `${what} must be a date (YYYY-MM-DD)` });

const userName = z
  .string()
  .regex(USER_NAME, 'a user name is 1 to 64 letters, digits and . _ @ -, starting with a letter or digit');
const displayName = z.string().trim().min(1, 'a name is needed').max(200, 'a name is at most 200 characters');
const password = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `a password has at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(1024, 'a password is at most 1024 characters');
const role = z.enum(ROLES, { message: `a role is one of ${ROLES.join(', ')}` });
const siteId = z.string().regex(SITE_ID, 'a site id is lower-case letters, digits and dashes');
const subspecialties = z
  .array(z.enum(SUBSPECIALTIES, { message: `a subspecialty is one of ${SUBSPECIALTIES.join(', ')}` }))
  .max(SUBSPECIALTIES.length);
const weeklyCapacity = z
  .number({ message: 'weekly capacity is a number of points' })
  .min(0, 'weekly capacity is 0 to 1000 points')
  .max(1000, 'weekly capacity is 0 to 1000 points');

export const AdminCreateUserSchema = z.strictObject({
  name: userName,
  displayName,
  password,
  role,
  siteId,
  subspecialties: subspecialties.optional(),
  weeklyCapacity: weeklyCapacity.optional(),
});
export type AdminCreateUserRequest = z.infer<typeof AdminCreateUserSchema>;

export const AdminUpdateUserSchema = z
  .strictObject({ displayName, role, siteId, subspecialties, weeklyCapacity })
  .partial();
export type AdminUpdateUserRequest = z.infer<typeof AdminUpdateUserSchema>;

/** Without `password`, the server makes one up and answers it once. */
export const ResetPasswordSchema = z.strictObject({ password: password.optional() });
export type ResetPasswordRequest = z.infer<typeof ResetPasswordSchema>;

export interface ResetPasswordResult {
  /** The password the server made up, shown once and never stored in clear; null when one was given. */
  generatedPassword: string | null;
}

export const AddLeaveSchema = z
  .strictObject({ from: day('from'), to: day('to') })
  .refine((l) => l.from <= l.to, { message: 'leave ends on or after the day it starts', path: ['to'] });
export type AddLeaveRequest = z.infer<typeof AddLeaveSchema>;

const siteName = z
  .string()
  .trim()
  .min(1, 'a site name is needed')
  .max(200, 'a site name is at most 200 characters');

export const AdminCreateSiteSchema = z.strictObject({
  id: z
    .string()
    .regex(SITE_ID, 'a site id is 1 to 48 lower-case letters, digits and dashes, not starting with a dash'),
  name: siteName,
});
export type AdminCreateSiteRequest = z.infer<typeof AdminCreateSiteSchema>;

export const RenameSiteSchema = z.strictObject({ name: siteName });
export type RenameSiteRequest = z.infer<typeof RenameSiteSchema>;

/** A workload rule: points per case of a specimen type; `*per_slide` per slide, `*fallback` for others. */
export interface WorkloadRuleDto {
  specimen_type: string;
  points: number;
}

export const SPECIMEN_TYPE = /^(\*per_slide|\*fallback|[a-z][a-z0-9_]{0,39})$/;

/** Specimen type → points (0 to 100); null removes a specimen type (`*per_slide` and `*fallback` stay). */
export const WorkloadRulesSchema = z.record(
  z.string().regex(SPECIMEN_TYPE, 'a specimen type is lower-case letters, digits and _ (at most 40)'),
  z
    .number({ message: 'points are a number' })
    .min(0, 'points are 0 to 100')
    .max(100, 'points are 0 to 100')
    .nullable(),
);
export type WorkloadRulesRequest = z.infer<typeof WorkloadRulesSchema>;
