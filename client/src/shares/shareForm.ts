import type { CreateShareRequest, MeDto, ShareDto, SiteDto, UserDto } from '../../../protocol/index.ts';

/** The server accepts expiries up to a year ahead; the picker offers exactly a year. */
export const MAX_SHARE_DAYS = 365;
export const DEFAULT_SHARE_DAYS = 30;

/**
 * protocol/auth.ts's STUDY_CODE, copied so that zod stays out of the bundle (shareForm.test.ts keeps
 * the two equal).
 */
export const STUDY_CODE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

const pad = (n: number): string => String(n).padStart(2, '0');

/** A local calendar date as `<input type="date">` reads and writes it: YYYY-MM-DD. */
export function isoDate(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** `n` calendar days later (daylight-saving safe: moves the date, not 24-hour steps). */
export function addDays(d: Date, n: number): Date {
  const r = new Date(d.getTime());
  r.setDate(r.getDate() + n);
  return r;
}

/** YYYY-MM-DD → that local date at midnight; null for anything else (including 2025-02-30). */
export function parseIsoDate(s: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(y, mo - 1, d);
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d) return null;
  return date;
}

/** The date input's min, max and starting value. */
export function expiryBounds(now: Date): { min: string; max: string; initial: string } {
  return {
    min: isoDate(now),
    max: isoDate(addDays(now, MAX_SHARE_DAYS)),
    initial: isoDate(addDays(now, DEFAULT_SHARE_DAYS)),
  };
}

/** A share "until 2025-07-01" lasts through that day: it ends at the day's last millisecond, local time. */
export function expiresAtFor(date: string): string | null {
  const d = parseIsoDate(date);
  if (!d) return null;
  return new Date(d.getFullYear(), d.getMonth(), d.getDate(), 23, 59, 59, 999).toISOString();
}

export type GranteeKind = 'user' | 'site';

export interface ShareForm {
  kind: GranteeKind;
  userId: string;
  siteId: string;
  /** YYYY-MM-DD */
  expires: string;
  deidentified: boolean;
  studyCode: string;
}

export type ShareFormErrors = Partial<Record<'grantee' | 'expires' | 'studyCode', string>>;

export type Validated = { ok: true; request: CreateShareRequest } | { ok: false; errors: ShareFormErrors };

/** The form as the server wants it, or what to fix, field by field. */
export function validateShare(form: ShareForm, now: Date): Validated {
  const errors: ShareFormErrors = {};
  const granteeId = form.kind === 'user' ? form.userId : form.siteId;
  if (!granteeId) errors.grantee = form.kind === 'user' ? 'Choose a person.' : 'Choose a site.';

  const { min, max } = expiryBounds(now);
  const expiresAt = expiresAtFor(form.expires);
  if (expiresAt === null) errors.expires = 'Enter the date the share ends.';
  else if (form.expires < min) errors.expires = 'The date has passed: choose today or later.';
  else if (form.expires > max) errors.expires = 'A share can last at most a year.';

  const studyCode = form.studyCode.trim();
  if (form.deidentified) {
    if (!studyCode)
      errors.studyCode = 'A de-identified share needs a study code: the name the recipient sees.';
    else if (!STUDY_CODE.test(studyCode))
      errors.studyCode =
        'Use up to 64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit.';
  }

  if (Object.keys(errors).length > 0 || expiresAt === null) return { ok: false, errors };
  const request: CreateShareRequest = {
    ...(form.kind === 'user' ? { userId: form.userId } : { siteId: form.siteId }),
    expiresAt,
    deidentified: form.deidentified,
    ...(form.deidentified ? { studyCode } : {}),
  };
  return { ok: true, request };
}

/** The site a grantee belongs to (a user's site, or the site itself); null when none is chosen. */
export function granteeSite(
  form: Pick<ShareForm, 'kind' | 'userId' | 'siteId'>,
  users: UserDto[],
): string | null {
  if (form.kind === 'site') return form.siteId || null;
  return users.find((u) => u.id === form.userId)?.siteId ?? null;
}

/**
 * De-identify by default whenever the slide leaves its site (or either site is unknown): a label or
 * vendor metadata may name the patient.
 */
export function defaultDeidentified(granteeSiteId: string | null, slideSiteId: string | null): boolean {
  return granteeSiteId === null || slideSiteId === null || granteeSiteId !== slideSiteId;
}

/**
 * People worth sharing with: not the sharer, not disabled, not at the slide's own site and not
 * administrators (both see it already); sorted by site, then name.
 */
export function shareableUsers(users: UserDto[], me: MeDto, slideSiteId: string | null): UserDto[] {
  return users
    .filter((u) => u.id !== me.user.id && !u.disabled && u.role !== 'admin' && u.siteId !== slideSiteId)
    .sort((a, b) => a.siteName.localeCompare(b.siteName) || a.displayName.localeCompare(b.displayName));
}

/** Every site but the slide's own. */
export function shareableSites(sites: SiteDto[], slideSiteId: string | null): SiteDto[] {
  return sites.filter((s) => s.id !== slideSiteId).sort((a, b) => a.name.localeCompare(b.name));
}

export type ShareStatus = 'active' | 'expired' | 'revoked';

export function shareStatus(share: ShareDto, now: Date): ShareStatus {
  if (share.revokedAt !== null) return 'revoked';
  return Date.parse(share.expiresAt) <= now.getTime() ? 'expired' : 'active';
}

/** Active shares first (soonest to end first), then ended ones (most recent first). */
export function sortShares(shares: ShareDto[], now: Date): ShareDto[] {
  const ended = (s: ShareDto): number =>
    s.revokedAt !== null ? Date.parse(s.revokedAt) : Date.parse(s.expiresAt);
  return [...shares].sort((a, b) => {
    const sa = shareStatus(a, now) === 'active';
    const sb = shareStatus(b, now) === 'active';
    if (sa !== sb) return sa ? -1 : 1;
    if (sa) return Date.parse(a.expiresAt) - Date.parse(b.expiresAt);
    return ended(b) - ended(a);
  });
}

/** "in 30 days", "tomorrow", "today", "3 days ago": whole local calendar days. */
export function relativeDays(iso: string, now: Date): string {
  const t = new Date(iso);
  const a = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const b = new Date(t.getFullYear(), t.getMonth(), t.getDate()).getTime();
  const days = Math.round((b - a) / 86_400_000);
  if (days === 0) return 'today';
  if (days === 1) return 'tomorrow';
  if (days === -1) return 'yesterday';
  return days > 0 ? `in ${days} days` : `${-days} days ago`;
}
