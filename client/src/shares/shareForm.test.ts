import { describe, expect, it } from 'vitest';
import {
  CreateShareRequestSchema,
  STUDY_CODE as PROTOCOL_STUDY_CODE,
  type MeDto,
  type ShareDto,
  type SiteDto,
  type UserDto,
} from '../../../protocol/index.ts';
import {
  addDays,
  defaultDeidentified,
  expiresAtFor,
  expiryBounds,
  granteeSite,
  isoDate,
  parseIsoDate,
  relativeDays,
  shareableSites,
  shareableUsers,
  shareStatus,
  sortShares,
  STUDY_CODE,
  validateShare,
  type ShareForm,
} from './shareForm.ts';

// Mid-morning local time on 15 January 2025.
const NOW = new Date(2025, 0, 15, 10, 30);

const user = (id: string, siteId: string, extra: Partial<UserDto> = {}): UserDto => ({
  id,
  name: id,
  displayName: id.toUpperCase(),
  role: 'pathologist',
  siteId,
  siteName: siteId === 'north' ? 'North Hospital' : 'South Clinic',
  disabled: false,
  createdAt: '2025-01-01T00:00:00Z',
  ...extra,
});
const ME: MeDto = {
  user: user('me', 'north'),
  permissions: { ingest: true, share: true, audit: false, manageUsers: false },
};

const form = (f: Partial<ShareForm> = {}): ShareForm => ({
  kind: 'user',
  userId: 'u1',
  siteId: '',
  expires: '2025-02-14',
  deidentified: true,
  studyCode: 'STUDY-001',
  ...f,
});

describe('dates', () => {
  it('formats and parses local calendar dates', () => {
    expect(isoDate(NOW)).toBe('2025-01-15');
    expect(parseIsoDate('2025-02-14')).toEqual(new Date(2025, 1, 14));
    expect(parseIsoDate('2025-02-30')).toBeNull();
    expect(parseIsoDate('14/02/2025')).toBeNull();
    expect(parseIsoDate('')).toBeNull();
  });

  it('adds calendar days across month and year ends', () => {
    expect(isoDate(addDays(new Date(2025, 0, 31), 1))).toBe('2025-02-01');
    expect(isoDate(addDays(new Date(2024, 11, 31), 1))).toBe('2025-01-01');
    expect(isoDate(addDays(new Date(2024, 1, 28), 1))).toBe('2024-02-29');
  });

  it('defaults to 30 days ahead and allows today up to a year', () => {
    expect(expiryBounds(NOW)).toEqual({ min: '2025-01-15', initial: '2025-02-14', max: '2026-01-15' });
  });

  it('ends a share at the last moment of its day, local time', () => {
    const iso = expiresAtFor('2025-02-14')!;
    const d = new Date(iso);
    expect([d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes()]).toEqual([
      2025, 1, 14, 23, 59,
    ]);
    expect(iso).toMatch(/Z$/);
    expect(expiresAtFor('nope')).toBeNull();
  });

  it('keeps the longest share inside the server limit (366 days from now)', () => {
    const longest = Date.parse(expiresAtFor(expiryBounds(NOW).max)!);
    expect(longest - NOW.getTime()).toBeLessThan(366 * 86_400_000);
    expect(longest).toBeGreaterThan(NOW.getTime());
  });

  it('says how far a date is in days', () => {
    expect(relativeDays(new Date(2025, 0, 15, 23).toISOString(), NOW)).toBe('today');
    expect(relativeDays(new Date(2025, 0, 16, 1).toISOString(), NOW)).toBe('tomorrow');
    expect(relativeDays(new Date(2025, 1, 14, 23).toISOString(), NOW)).toBe('in 30 days');
    expect(relativeDays(new Date(2025, 0, 12).toISOString(), NOW)).toBe('3 days ago');
  });
});

describe('validateShare', () => {
  it('builds a request the protocol schema accepts', () => {
    const v = validateShare(form(), NOW);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.request).toEqual({
      userId: 'u1',
      expiresAt: expiresAtFor('2025-02-14'),
      deidentified: true,
      studyCode: 'STUDY-001',
    });
    expect(CreateShareRequestSchema.safeParse(v.request).success).toBe(true);
  });

  it('sends a site grantee alone, and no study code when identified', () => {
    const v = validateShare(form({ kind: 'site', userId: 'u1', siteId: 'south', deidentified: false }), NOW);
    expect(v.ok && v.request).toEqual({
      siteId: 'south',
      expiresAt: expiresAtFor('2025-02-14'),
      deidentified: false,
    });
    if (v.ok) expect(CreateShareRequestSchema.safeParse(v.request).success).toBe(true);
  });

  it('trims the study code', () => {
    const v = validateShare(form({ studyCode: '  TRIAL 7 ' }), NOW);
    expect(v.ok && v.request.studyCode).toBe('TRIAL 7');
  });

  it('needs a grantee', () => {
    expect(validateShare(form({ userId: '' }), NOW)).toEqual({
      ok: false,
      errors: { grantee: 'Choose a person.' },
    });
    expect(validateShare(form({ kind: 'site', siteId: '' }), NOW)).toEqual({
      ok: false,
      errors: { grantee: 'Choose a site.' },
    });
  });

  it('needs a study code when de-identified, and one the server accepts', () => {
    const missing = validateShare(form({ studyCode: '  ' }), NOW);
    expect(!missing.ok && missing.errors.studyCode).toMatch(/needs a study code/);
    for (const bad of ['-lead', 'a/b', 'x'.repeat(65), 'naïve']) {
      const v = validateShare(form({ studyCode: bad }), NOW);
      expect(!v.ok && v.errors.studyCode, bad).toMatch(/letters, digits/);
    }
    expect(validateShare(form({ deidentified: false, studyCode: '' }), NOW).ok).toBe(true);
  });

  it('keeps the expiry between today and a year ahead', () => {
    const past = validateShare(form({ expires: '2025-01-14' }), NOW);
    expect(!past.ok && past.errors.expires).toMatch(/has passed/);
    expect(validateShare(form({ expires: '2025-01-15' }), NOW).ok).toBe(true);
    expect(validateShare(form({ expires: '2026-01-15' }), NOW).ok).toBe(true);
    const far = validateShare(form({ expires: '2026-01-16' }), NOW);
    expect(!far.ok && far.errors.expires).toMatch(/at most a year/);
    const empty = validateShare(form({ expires: '' }), NOW);
    expect(!empty.ok && empty.errors.expires).toMatch(/Enter the date/);
  });

  it('reports every problem at once', () => {
    const v = validateShare(form({ userId: '', expires: '', studyCode: '' }), NOW);
    expect(!v.ok && Object.keys(v.errors).sort()).toEqual(['expires', 'grantee', 'studyCode']);
  });
});

describe('grantees', () => {
  const users = [
    user('s2', 'south', { displayName: 'Zed' }),
    user('s1', 'south', { displayName: 'Amy' }),
    user('n1', 'north'),
    user('me', 'north'),
    user('gone', 'south', { disabled: true }),
    user('root', 'south', { role: 'admin' }),
  ];
  const sites: SiteDto[] = [
    { id: 'south', name: 'South Clinic', createdAt: '' },
    { id: 'north', name: 'North Hospital', createdAt: '' },
    { id: 'east', name: 'East Lab', createdAt: '' },
  ];

  it('offers people who do not already see the slide', () => {
    expect(shareableUsers(users, ME, 'north').map((u) => u.id)).toEqual(['s1', 's2']);
  });

  it('offers the other sites', () => {
    expect(shareableSites(sites, 'north').map((s) => s.id)).toEqual(['east', 'south']);
  });

  it('finds the grantee site', () => {
    expect(granteeSite({ kind: 'user', userId: 's1', siteId: '' }, users)).toBe('south');
    expect(granteeSite({ kind: 'user', userId: '', siteId: 'x' }, users)).toBeNull();
    expect(granteeSite({ kind: 'site', userId: 's1', siteId: 'east' }, users)).toBe('east');
  });

  it('de-identifies by default when the slide leaves its site', () => {
    expect(defaultDeidentified('south', 'north')).toBe(true);
    expect(defaultDeidentified('north', 'north')).toBe(false);
    expect(defaultDeidentified(null, 'north')).toBe(true);
    expect(defaultDeidentified('north', null)).toBe(true);
  });
});

describe('share status', () => {
  const share = (id: string, expiresAt: string, revokedAt: string | null = null): ShareDto => ({
    id,
    slideId: 'x',
    grantee: { kind: 'site', id: 'south', name: 'South Clinic' },
    deidentified: false,
    studyCode: null,
    expiresAt,
    createdBy: 'me',
    createdAt: '2025-01-01T00:00:00Z',
    revokedAt,
  });
  const later = addDays(NOW, 10).toISOString();
  const soon = addDays(NOW, 2).toISOString();
  const before = addDays(NOW, -1).toISOString();

  it('is revoked, expired or active', () => {
    expect(shareStatus(share('a', later), NOW)).toBe('active');
    expect(shareStatus(share('b', before), NOW)).toBe('expired');
    expect(shareStatus(share('c', later, before), NOW)).toBe('revoked');
  });

  it('lists active shares first, soonest ending first', () => {
    const list = [share('old', before), share('late', later), share('rev', later, soon), share('soon', soon)];
    expect(sortShares(list, NOW).map((s) => s.id)).toEqual(['soon', 'late', 'rev', 'old']);
  });
});

describe('STUDY_CODE', () => {
  it('matches the protocol', () => {
    expect(STUDY_CODE.source).toBe(PROTOCOL_STUDY_CODE.source);
    expect(STUDY_CODE.flags).toBe(PROTOCOL_STUDY_CODE.flags);
  });
});
