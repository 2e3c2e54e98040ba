import { randomUUID } from 'node:crypto';
import {
  type AlgorithmDto,
  type AlgorithmEndpoint,
  type AlgorithmInput,
  AlgorithmInputSchema,
  type BuiltinAlgorithmDto,
  BuiltinRegistrationSchema,
  LAB_MANAGER_PATCH_KEYS,
  type AlgorithmPatch,
  type AlgorithmRef,
  type AiTrigger,
  type AppliesTo,
} from '../../protocol/index.ts';
import type { Principal } from '../auth/auth.ts';
import type { AuditLog } from '../auth/audit.ts';
import { isUniqueViolation } from '../db/index.ts';
import { HttpError } from '../http/errors.ts';
import { BUILTINS, builtin, builtinOf } from './builtins.ts';
import type { AiAlgorithmsTable, AiDb } from './schema.ts';

/** An algorithm as the server uses it (how it is reached included). */
export interface Algorithm extends AlgorithmRef {
  description: string;
  appliesTo: AppliesTo;
  endpoint: AlgorithmEndpoint;
  identifiedData: boolean;
  trigger: AiTrigger;
  timeoutSeconds: number;
  concurrency: number;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** What applies-to is matched against: the slide as the site that owns it knows it. */
export interface SlideFacts {
  format: string;
  stain: string | null;
  subspecialty: string | null;
}

export function toAlgorithm(r: AiAlgorithmsTable): Algorithm {
  return {
    id: r.id,
    name: r.name,
    version: r.version,
    enabled: r.enabled !== 0,
    description: r.description,
    appliesTo: JSON.parse(r.applies_to) as AppliesTo,
    endpoint: JSON.parse(r.endpoint) as AlgorithmEndpoint,
    identifiedData: r.identified_data !== 0,
    trigger: r.trigger as AiTrigger,
    timeoutSeconds: r.timeout_seconds,
    concurrency: r.concurrency,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The DTO; how the algorithm is reached only for those who manage algorithms. */
export function algorithmDto(a: Algorithm, withEndpoint: boolean): AlgorithmDto {
  const { createdBy: _by, endpoint, ...rest } = a;
  return { ...rest, endpoint: withEndpoint ? endpoint : null, builtin: builtinOf(endpoint)?.key ?? null };
}

export const refOf = (a: Pick<Algorithm, 'id' | 'name' | 'version' | 'enabled'>): AlgorithmRef => ({
  id: a.id,
  name: a.name,
  version: a.version,
  enabled: a.enabled,
});

/**
 * Whether an algorithm applies to a slide: each non-empty list of its applies-to must hold the
 * slide's value (a slide without a case has no subspecialty, one whose name states no stain no stain).
 */
export function appliesTo(a: Pick<Algorithm, 'appliesTo'>, s: SlideFacts): string | null {
  const { subspecialties, stains, formats } = a.appliesTo;
  if (formats.length > 0 && !formats.includes(s.format as never))
    return `it applies to ${formats.join(', ')} slides, not ${s.format}`;
  if (stains.length > 0 && (s.stain === null || !stains.includes(s.stain)))
    return `it applies to ${stains.join(', ')} stains, not ${s.stain ?? 'a slide whose name states no stain'}`;
  if (
    subspecialties.length > 0 &&
    (s.subspecialty === null || !subspecialties.includes(s.subspecialty as never))
  )
    return `it applies to ${subspecialties.join(', ')} cases, not ${s.subspecialty ?? 'a slide without a case'}`;
  return null;
}

/** The parsed value, or the first issue as a 400. */
function invalid<T>(
  r:
    | { success: true; data: T }
    | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } },
): T {
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new HttpError(
    'INVALID_PARAMETER',
    `${i?.path.length ? `${i.path.map(String).join('.')}: ` : ''}${i?.message ?? 'invalid'}`,
  );
}

/** What changed between two versions of an algorithm, for the audit (how it is reached included). */
function changes(before: Algorithm, after: Algorithm): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const k of [
    'description',
    'appliesTo',
    'endpoint',
    'identifiedData',
    'trigger',
    'enabled',
    'timeoutSeconds',
    'concurrency',
  ] as const)
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out[k] = { from: before[k], to: after[k] };
  return out;
}

/**
 * The registry of algorithms: administrators register, change, enable and disable them (each
 * audited); lab managers do so for the algorithms built into Tessera only (server/ai/builtins.ts),
 * never their endpoint or identified data; everyone else reads the enabled ones. Name and version
 * identify an algorithm for good: a new version is registered anew, so quality figures never mix
 * versions.
 */
export class AlgorithmRegistry {
  constructor(
    private readonly db: AiDb,
    private readonly audit: AuditLog,
  ) {}

  async list(opts: { enabledOnly?: boolean } = {}): Promise<Algorithm[]> {
    let q = this.db.selectFrom('ai_algorithms').selectAll();
    if (opts.enabledOnly) q = q.where('enabled', '=', 1);
    return (await q.orderBy('name').orderBy('created_at', 'desc').execute()).map(toAlgorithm);
  }

  async get(id: string): Promise<Algorithm | null> {
    const r = await this.db.selectFrom('ai_algorithms').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toAlgorithm(r) : null;
  }

  async require(id: string): Promise<Algorithm> {
    const a = await this.get(id);
    if (!a) throw new HttpError('NOT_FOUND', `no algorithm ${id}`);
    return a;
  }

  private static manages(p: Principal): void {
    if (p.user.role !== 'admin')
      throw new HttpError('FORBIDDEN', `your role (${p.user.role}) may not register or change algorithms`);
  }

  /**
   * Registers an algorithm. Administrators register any (an endpoint of their own, `AlgorithmInput`);
   * lab managers only one shipped with Tessera (`{builtin: key, …}`), whose name, version,
   * description and command the server fills in, never seeing identified data: a command or URL
   * of one's own runs code on the server or sends slides' tokens off it.
   */
  async create(p: Principal, raw: unknown, ip: string | null): Promise<Algorithm> {
    const role = p.user.role;
    if (role !== 'admin' && role !== 'lab_manager')
      throw new HttpError('FORBIDDEN', `your role (${role}) may not register algorithms`);
    const body = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
    if (role === 'lab_manager' && ('endpoint' in body || !('builtin' in body)))
      throw new HttpError(
        'FORBIDDEN',
        'a lab manager registers only the algorithms built into Tessera ({"builtin": "reference"}); an ' +
          'algorithm with an endpoint of its own (a command or a URL) is registered by an administrator',
      );
    let input: ReturnType<typeof AlgorithmInputSchema.parse>;
    let from: string | null = null;
    if ('builtin' in body) {
      const b = invalid(BuiltinRegistrationSchema.safeParse(raw));
      const shipped = builtin(b.builtin)!;
      from = shipped.key;
      const full: AlgorithmInput = {
        name: shipped.name,
        version: shipped.version,
        description: shipped.description,
        endpoint: shipped.endpoint,
        identifiedData: false,
        appliesTo: b.appliesTo,
        trigger: b.trigger,
        enabled: b.enabled,
        timeoutSeconds: b.timeoutSeconds,
        concurrency: b.concurrency,
      };
      input = AlgorithmInputSchema.parse(full);
    } else {
      AlgorithmRegistry.manages(p);
      input = invalid(AlgorithmInputSchema.safeParse(raw));
    }
    const now = new Date().toISOString();
    const row: AiAlgorithmsTable = {
      id: randomUUID(),
      name: input.name,
      version: input.version,
      description: input.description,
      applies_to: JSON.stringify(input.appliesTo),
      endpoint: JSON.stringify(input.endpoint),
      identified_data: input.identifiedData ? 1 : 0,
      trigger: input.trigger,
      enabled: input.enabled ? 1 : 0,
      timeout_seconds: input.timeoutSeconds,
      concurrency: input.concurrency,
      created_by: p.user.id,
      created_at: now,
      updated_at: now,
    };
    const clash = await this.db
      .selectFrom('ai_algorithms')
      .select('id')
      .where('name', '=', input.name)
      .where('version', '=', input.version)
      .executeTakeFirst();
    if (clash) throw this.duplicate(input.name, input.version);
    try {
      await this.db.insertInto('ai_algorithms').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e) || /UNIQUE constraint/.test(String(e)))
        throw this.duplicate(input.name, input.version);
      throw e;
    }
    const a = toAlgorithm(row);
    await this.audit.record({
      action: 'ai.algorithm_create',
      actor: p.user,
      targetType: 'algorithm',
      targetId: a.id,
      detail: { ...algorithmDto(a, true), ...(from ? { builtin: from } : {}) },
      ip,
    });
    return a;
  }

  /** The built-in algorithms and their registrations; their commands for administrators only. */
  async builtins(p: Principal): Promise<BuiltinAlgorithmDto[]> {
    if (p.user.role !== 'admin' && p.user.role !== 'lab_manager')
      throw new HttpError('FORBIDDEN', `your role (${p.user.role}) may not register algorithms`);
    const out: BuiltinAlgorithmDto[] = [];
    for (const b of BUILTINS) {
      const reg = await this.db
        .selectFrom('ai_algorithms')
        .select('id')
        .where('name', '=', b.name)
        .where('version', '=', b.version)
        .executeTakeFirst();
      out.push({
        key: b.key,
        name: b.name,
        version: b.version,
        description: b.description,
        endpoint: p.user.role === 'admin' ? b.endpoint : null,
        registeredId: reg?.id ?? null,
      });
    }
    return out;
  }

  private duplicate(name: string, version: string): HttpError {
    return new HttpError(
      'CONFLICT',
      `${name} version ${version} is already registered: register a new version, or change that one`,
    );
  }

  /**
   * Changes an algorithm: administrators anything but its name and version; lab managers only
   * LAB_MANAGER_PATCH_KEYS, and only on an algorithm that runs a built-in's own command.
   */
  async update(p: Principal, id: string, patch: AlgorithmPatch, ip: string | null): Promise<Algorithm> {
    if (p.user.role === 'lab_manager') {
      const other = Object.keys(patch).filter(
        (k) => !(LAB_MANAGER_PATCH_KEYS as readonly string[]).includes(k),
      );
      if (other.length > 0)
        throw new HttpError(
          'FORBIDDEN',
          `a lab manager may change an algorithm's ${LAB_MANAGER_PATCH_KEYS.join(', ')}; ${other.join(', ')} only an administrator`,
        );
    } else AlgorithmRegistry.manages(p);
    const before = await this.require(id);
    if (p.user.role === 'lab_manager' && !builtinOf(before.endpoint))
      throw new HttpError(
        'FORBIDDEN',
        `${before.name} ${before.version} has an endpoint of its own: only an administrator changes it (a lab manager changes the algorithms built into Tessera)`,
      );
    // Registered by a lab manager of another site (or by an administrator): not this site's to
    // change, as a share to read never lets one site write what another set up.
    if (p.user.role === 'lab_manager' && !(await this.registeredBySite(before, p.user.siteId)))
      throw new HttpError(
        'FORBIDDEN',
        `${before.name} ${before.version} was registered by another site or an administrator: only they or an administrator change it`,
      );
    const set: Partial<AiAlgorithmsTable> = { updated_at: new Date().toISOString() };
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.appliesTo !== undefined) set.applies_to = JSON.stringify(patch.appliesTo);
    if (patch.endpoint !== undefined) set.endpoint = JSON.stringify(patch.endpoint);
    if (patch.identifiedData !== undefined) set.identified_data = patch.identifiedData ? 1 : 0;
    if (patch.trigger !== undefined) set.trigger = patch.trigger;
    if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
    if (patch.timeoutSeconds !== undefined) set.timeout_seconds = patch.timeoutSeconds;
    if (patch.concurrency !== undefined) set.concurrency = patch.concurrency;
    await this.db.updateTable('ai_algorithms').set(set).where('id', '=', id).execute();
    const after = await this.require(id);
    const changed = changes(before, after);
    if (Object.keys(changed).length > 0) {
      const action =
        'enabled' in changed && Object.keys(changed).length === 1
          ? after.enabled
            ? 'ai.algorithm_enable'
            : 'ai.algorithm_disable'
          : 'ai.algorithm_update';
      await this.audit.record({
        action,
        actor: p.user,
        targetType: 'algorithm',
        targetId: id,
        detail: { name: after.name, version: after.version, changes: changed },
        ip,
      });
    }
    return after;
  }

  /** Whether a lab manager of `siteId` registered the algorithm. */
  private async registeredBySite(a: Algorithm, siteId: string | null): Promise<boolean> {
    if (!siteId) return false;
    const by = await this.db
      .selectFrom('users')
      .select(['role', 'site_id'])
      .where('id', '=', a.createdBy)
      .executeTakeFirst();
    return by?.role === 'lab_manager' && by.site_id === siteId;
  }

  /** The slide as `siteId` knows it: format, the stain its name there states, its case's subspecialty. */
  async facts(slideId: string, siteId: string | null): Promise<SlideFacts | null> {
    const slide = await this.db
      .selectFrom('slides')
      .select(['source_format', 'stain'])
      .where('id', '=', slideId)
      .executeTakeFirst();
    if (!slide) return null;
    const own = siteId
      ? await this.db
          .selectFrom('slide_sites')
          .select('stain')
          .where('slide_id', '=', slideId)
          .where('site_id', '=', siteId)
          .executeTakeFirst()
      : undefined;
    let caseQ = this.db
      .selectFrom('case_slides')
      .innerJoin('cases', 'cases.id', 'case_slides.case_id')
      .select('cases.subspecialty')
      .where('case_slides.slide_id', '=', slideId);
    if (siteId) caseQ = caseQ.where('cases.site_id', '=', siteId);
    const kase = await caseQ.orderBy('cases.received_at', 'desc').executeTakeFirst();
    return {
      format: slide.source_format,
      stain: own ? own.stain : slide.stain,
      subspecialty: kase?.subspecialty ?? null,
    };
  }
}
