/**
 * A synthetic pathology network in the database: sites, pathologists with subspecialties,
 * capacities and leave, specialists, a lab manager, open cases with an imbalance across sites (one
 * site drowning, another idle) and eight weeks of reported history for the charts. Deterministic for
 * a seed. Used by `tessera demo` and by the balancing benchmark.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULT_TARGET_DAYS } from '../../server/cases/service.ts';
import type { Db } from '../../server/db/index.ts';
import type { CasesTable, LeavePeriodsTable, UsersTable } from '../../server/db/schema.ts';
import { localDate } from '../../server/admin/leave.ts';
import { prng } from '../prng.ts';

const SITE_NAMES = [
  'North Tyne Hospitals',
  'Wearside General',
  'County Durham Infirmary',
  'Gateshead Health',
  'Northumbria Coast',
  'South Tyneside',
];
const FIRST = [
  'Amira',
  'Ben',
  'Chloe',
  'Dev',
  'Elena',
  'Farid',
  'Grace',
  'Hiro',
  'Isla',
  'Jonas',
  'Kemi',
  'Liam',
  'Maya',
  'Nikhil',
  'Olga',
  'Pau',
];
const LAST = [
  'Ahmed',
  'Brown',
  'Carter',
  'Dhillon',
  'Evans',
  'Fraser',
  'Gill',
  'Hughes',
  'Iqbal',
  'Jones',
  'Khan',
  'Lowe',
  'Murray',
  'Nolan',
  'Owen',
  'Patel',
];
const SUBS = ['breast', 'gi', 'skin', 'haematopathology', 'neuro'] as const;
const SPECIMENS = ['biopsy', 'biopsy', 'biopsy', 'resection', 'cytology', 'excision', 'consult'];

export interface NetworkOptions {
  sites: number;
  pathologistsPerSite: number;
  openCases: number;
  reportedCases: number;
  seed: number;
  /** Stored for every made user (demo: one random password, printed once). */
  passwordHash: string;
  /** Share of open cases piled on the first site (the imbalance to resolve). */
  skew?: number;
}

export interface NetworkSummary {
  siteIds: string[];
  pathologists: number;
  specialists: number;
  openCases: number;
  reportedCases: number;
  managerName: string;
  adminName: string;
  caseIds: string[];
}

async function insertMany<T>(rows: T[], put: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += 400) await put(rows.slice(i, i + 400));
}

export async function seedNetwork(db: Db, o: NetworkOptions): Promise<NetworkSummary> {
  const r = prng(o.seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const now = Date.now();
  const iso = (t: number): string => new Date(t).toISOString();
  const siteIds: string[] = [];
  const sites = Array.from({ length: o.sites }, (_, i) => {
    const name = i < SITE_NAMES.length ? SITE_NAMES[i]! : `Network Site ${i + 1}`;
    const id = name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .slice(0, 40);
    siteIds.push(id);
    return { id, name, created_at: iso(now) };
  });
  const existing = new Set((await db.selectFrom('sites').select('id').execute()).map((s) => s.id));
  await insertMany(
    sites.filter((s) => !existing.has(s.id)),
    (c) => db.insertInto('sites').values(c).execute(),
  );

  const users: UsersTable[] = [];
  const profiles: { user_id: string; subspecialties: string; weekly_capacity: number }[] = [];
  // Leave until further notice from today (a dated period, as the admin page records it).
  const leaves: LeavePeriodsTable[] = [];
  const user = (name: string, display: string, role: string, siteId: string): UsersTable => {
    const u: UsersTable = {
      id: randomUUID(),
      name,
      display_name: display,
      role,
      site_id: siteId,
      password_hash: o.passwordHash,
      disabled: 0,
      created_at: iso(now),
      updated_at: iso(now),
    };
    users.push(u);
    return u;
  };
  const tag = `${o.seed}`;
  // Every person a name of their own (two Dr Hiro Khans in one network confuse a reassignment).
  const taken = new Set<string>();
  const personName = (): string => {
    for (let i = 0; i < 40; i++) {
      const n = `${pick(FIRST)} ${pick(LAST)}`;
      if (!taken.has(n)) return (taken.add(n), n);
    }
    for (let i = 0; ; i++) {
      const n = `${pick(FIRST)} ${String.fromCharCode(65 + (i % 26))}${i >= 26 ? Math.floor(i / 26) : ''}. ${pick(LAST)}`;
      if (!taken.has(n)) return (taken.add(n), n);
    }
  };
  const admin = user(`demo-admin-${tag}`, 'Demo Administrator', 'admin', siteIds[0]!);
  const manager = user(`demo-manager-${tag}`, 'Morgan Lab-Manager', 'lab_manager', siteIds[0]!);
  const paths: { id: string; site: string; subs: string[]; cap: number; leave: boolean }[] = [];
  for (const [si, site] of siteIds.entries())
    for (let k = 0; k < o.pathologistsPerSite; k++) {
      const display = `Dr ${personName()}`;
      const u = user(`path-${si + 1}-${k + 1}-${tag}`, display, 'pathologist', site);
      const subs = [...new Set([pick(SUBS), pick(SUBS), ...(r() < 0.5 ? [pick(SUBS)] : [])])];
      const cap = 15 + Math.floor(r() * 16);
      // A few on leave, and at least one in every third site, so that leave shows in every demo.
      const leave = r() < 0.06 || (si % 3 === 0 && k === o.pathologistsPerSite - 1);
      paths.push({ id: u.id, site, subs, cap, leave });
      profiles.push({
        user_id: u.id,
        subspecialties: JSON.stringify(subs),
        weekly_capacity: cap,
      });
      if (leave)
        leaves.push({
          id: randomUUID(),
          user_id: u.id,
          starts_on: localDate(new Date(now)),
          ends_on: null,
          created_by: null,
          created_at: iso(now),
        });
    }
  const specialists: string[] = [];
  for (const [i, sub] of SUBS.entries()) {
    const u = user(
      `spec-${sub}-${tag}`,
      `Prof ${personName()} (${sub})`,
      'specialist',
      siteIds[i % siteIds.length]!,
    );
    specialists.push(u.id);
    profiles.push({ user_id: u.id, subspecialties: JSON.stringify([sub]), weekly_capacity: 0 });
  }
  await insertMany(users, (c) => db.insertInto('users').values(c).execute());
  await insertMany(profiles, (c) => db.insertInto('pathologist_profiles').values(c).execute());
  await insertMany(leaves, (c) => db.insertInto('leave_periods').values(c).execute());

  const skew = o.skew ?? 0.35;
  const cases: CasesTable[] = [];
  const bySiteSub = new Map<string, typeof paths>();
  for (const p of paths)
    for (const s of [...p.subs, 'general']) {
      const k = `${p.site}|${s}`;
      bySiteSub.set(k, [...(bySiteSub.get(k) ?? []), p]);
    }
  const makeCase = (open: boolean, n: number): void => {
    const site = open && r() < skew ? siteIds[0]! : pick(siteIds);
    const sub = r() < 0.15 ? 'general' : pick(SUBS);
    const priority = r() < 0.18 ? 'urgent' : 'routine';
    const target = DEFAULT_TARGET_DAYS[priority];
    const received = open
      ? now - Math.floor(r() * (target + 4)) * 86_400_000
      : now - Math.floor(7 + r() * 49) * 86_400_000;
    const local = bySiteSub.get(`${site}|${sub}`) ?? [];
    const assignee = local.length && r() < 0.9 ? pick(local).id : null;
    const reportedAt = open
      ? null
      : received + Math.max(1, Math.round(target * (0.4 + r() * 1.2))) * 86_400_000;
    cases.push({
      id: randomUUID(),
      accession: `${open ? 'H' : 'R'}${tag}-${String(n).padStart(6, '0')}`,
      site_id: site,
      specimen_type: pick(SPECIMENS),
      subspecialty: sub,
      priority,
      received_at: iso(received),
      target_days: target,
      status: open
        ? assignee
          ? pick(['assigned', 'assigned', 'in_review'])
          : pick(['received', 'scanned'])
        : 'reported',
      assigned_to: assignee,
      reported_at: reportedAt && reportedAt < now ? iso(reportedAt) : open ? null : iso(now - 86_400_000),
      created_at: iso(received),
      updated_at: iso(now),
    });
  };
  for (let i = 0; i < o.openCases; i++) makeCase(true, i);
  for (let i = 0; i < o.reportedCases; i++) makeCase(false, i);
  await insertMany(cases, (c) => db.insertInto('cases').values(c).execute());
  return {
    siteIds,
    pathologists: paths.length,
    specialists: specialists.length,
    openCases: o.openCases,
    reportedCases: o.reportedCases,
    managerName: manager.name,
    adminName: admin.name,
    caseIds: cases.filter((c) => c.status !== 'reported').map((c) => c.id),
  };
}
