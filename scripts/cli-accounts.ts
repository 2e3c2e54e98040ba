/**
 * `tessera user|site|token|audit …`: accounts and the audit trail, straight on the database of a
 * data folder (or DATABASE_URL), with no server needed. Every change is written to the audit log as
 * done by the command line.
 */
import { createInterface } from 'node:readline';
import { writeFile } from 'node:fs/promises';
import { ROLES, type Role } from '../protocol/index.ts';
import { loadConfig } from '../server/config.ts';
import { csvRow } from '../server/csv.ts';
import type { Db } from '../server/db/index.ts';

export class CliUsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;

async function withDb<T>(values: Values, fn: (db: Db) => Promise<T>): Promise<T> {
  const config = loadConfig({ dataDir: values.data as string | undefined });
  const { openDb } = await import('../server/db/index.ts');
  const db = await openDb({ databaseUrl: config.databaseUrl, sqliteFile: config.dbFile });
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

const CLI_ACTOR = { actorName: 'cli', ip: 'local' } as const;

/**
 * Tell running servers that someone's rights may have ended, so they drop the user's open
 * connections at once: through Redis when TESSERA_REDIS_URL is set; without it, each server's
 * once-a-second re-check finds the change in the database.
 */
async function notifyServers(values: Values, why: string): Promise<void> {
  const { publishRightsChanged } = await import('../server/auth/rights-bus.ts');
  const config = loadConfig({ dataDir: values.data as string | undefined });
  try {
    await publishRightsChanged(config.redisUrl, why);
  } catch (e) {
    console.error(
      `warning: servers not told through Redis (${(e as Error).message}); they notice within a second`,
    );
  }
}

async function audit(
  db: Db,
  e: Parameters<import('../server/auth/audit.ts').AuditLog['record']>[0],
): Promise<void> {
  const { AuditLog } = await import('../server/auth/audit.ts');
  await new AuditLog(db).record({ ...CLI_ACTOR, ...e, detail: { via: 'cli', ...(e.detail ?? {}) } });
}

/** All of standard input (a pipe), or one line typed without echo on a terminal. */
export async function readPassword(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const out = rl as unknown as { _writeToOutput: (s: string) => void };
  process.stderr.write(prompt);
  out._writeToOutput = () => {};
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** `30d`, `12h`, `90m`, `2w`, `1y`, or `never` (null). */
export function parseDuration(raw: string): number | null {
  if (raw === 'never') return null;
  const m = /^(\d{1,4})([mhdwy])$/.exec(raw);
  if (!m) throw new CliUsageError(`Expected a duration such as 30d, 12h, 2w or never but received ${raw}`);
  const unit = { m: 60_000, h: 3600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 }[m[2] as 'm'];
  const ms = Number(m[1]) * unit;
  if (ms <= 0) throw new CliUsageError(`Expected a positive duration but received ${raw}`);
  return ms;
}

function siteIdFrom(name: string): string {
  const id = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  if (!id)
    throw new CliUsageError(
      `Expected a site name with letters or digits but received ${JSON.stringify(name)}`,
    );
  return id;
}

export async function cmdUser(
  sub: string | undefined,
  values: Values,
  positionals: string[],
): Promise<number> {
  const users = await import('../server/auth/users.ts');
  switch (sub) {
    case 'add': {
      const name = values.name as string | undefined;
      const role = values.role as string | undefined;
      const site = values.site as string | undefined;
      if (!name || !role || !site)
        throw new CliUsageError('user add needs --name NAME --role ROLE --site SITE --password-stdin');
      if (!ROLES.includes(role as Role))
        throw new CliUsageError(`Expected --role to be one of ${ROLES.join(', ')} but received ${role}`);
      if (values['password-stdin'] !== true)
        throw new CliUsageError('user add needs --password-stdin (passwords are never taken as arguments)');
      const password = await readPassword(`password for ${name}: `);
      return withDb(values, async (db) => {
        // A site named on the command line is made on first use (the first admin needs one).
        const siteId = siteIdFrom(site);
        let madeSite = false;
        if ((await users.siteName(db, siteId)) === null) {
          await users.createSite(db, { id: siteId, name: site });
          await audit(db, {
            action: 'site.create',
            targetType: 'site',
            targetId: siteId,
            detail: { name: site },
          });
          madeSite = true;
        }
        const u = await users.createUser(db, {
          name,
          role: role as Role,
          siteId,
          password,
          ...(typeof values['display-name'] === 'string' ? { displayName: values['display-name'] } : {}),
        });
        await audit(db, {
          action: 'user.create',
          targetType: 'user',
          targetId: u.id,
          targetSiteId: u.siteId,
          detail: { name: u.name, role: u.role },
        });
        console.log(`user ${u.name} (${u.role}) added to site ${u.siteId}${madeSite ? ' (new site)' : ''}`);
        return 0;
      });
    }
    case 'list':
      return withDb(values, async (db) => {
        const list = await users.listUsers(db);
        if (values.json === true) for (const u of list) console.log(JSON.stringify(u));
        else
          for (const u of list)
            console.log(
              `${u.name.padEnd(20)} ${u.role.padEnd(12)} ${u.siteId.padEnd(16)} ${u.disabled ? 'disabled' : 'active'}`,
            );
        return 0;
      });
    case 'passwd':
    case 'disable':
    case 'enable': {
      const name = (values.name as string | undefined) ?? positionals[0];
      if (!name) throw new CliUsageError(`user ${sub} needs --name NAME`);
      if (sub === 'passwd' && values['password-stdin'] !== true)
        throw new CliUsageError('user passwd needs --password-stdin');
      const password = sub === 'passwd' ? await readPassword(`new password for ${name}: `) : undefined;
      return withDb(values, async (db) => {
        const u = await users.userByName(db, name);
        if (!u) {
          console.error(`error: no user ${name}`);
          return 1;
        }
        await users.updateUser(
          db,
          u.id,
          sub === 'passwd' ? { password: password! } : { disabled: sub === 'disable' },
        );
        await audit(db, {
          action: 'user.update',
          targetType: 'user',
          targetId: u.id,
          targetSiteId: u.siteId,
          detail: sub === 'passwd' ? { password: 'changed' } : { disabled: sub === 'disable' },
        });
        await notifyServers(values, 'user changed');
        console.log(`user ${name}: ${sub === 'passwd' ? 'password changed, sessions ended' : `${sub}d`}`);
        return 0;
      });
    }
    default:
      throw new CliUsageError(
        `Expected user add|list|passwd|disable|enable but received ${sub ?? 'nothing'}`,
      );
  }
}

export async function cmdSite(
  sub: string | undefined,
  values: Values,
  positionals: string[],
): Promise<number> {
  const users = await import('../server/auth/users.ts');
  switch (sub) {
    case 'add': {
      const name = (values.name as string | undefined) ?? positionals[0];
      if (!name) throw new CliUsageError('site add needs --name NAME [--id ID]');
      const id = (values.id as string | undefined) ?? siteIdFrom(name);
      return withDb(values, async (db) => {
        const s = await users.createSite(db, { id, name });
        await audit(db, { action: 'site.create', targetType: 'site', targetId: s.id, detail: { name } });
        console.log(`site ${s.id} (${s.name}) added`);
        return 0;
      });
    }
    case 'list':
      return withDb(values, async (db) => {
        for (const s of await users.listSites(db)) console.log(`${s.id.padEnd(20)} ${s.name}`);
        return 0;
      });
    default:
      throw new CliUsageError(`Expected site add|list but received ${sub ?? 'nothing'}`);
  }
}

export async function cmdToken(
  sub: string | undefined,
  values: Values,
  positionals: string[],
): Promise<number> {
  const { Auth } = await import('../server/auth/auth.ts');
  const users = await import('../server/auth/users.ts');
  switch (sub) {
    case 'create': {
      const name = values.user as string | undefined;
      if (!name)
        throw new CliUsageError('token create needs --user NAME [--expires 30d|never] [--label TEXT]');
      const ms = parseDuration((values.expires as string | undefined) ?? '90d');
      return withDb(values, async (db) => {
        const u = await users.userByName(db, name);
        if (!u || u.disabled) {
          console.error(`error: no active user ${name}`);
          return 1;
        }
        const expiresAt = ms === null ? null : new Date(Date.now() + ms);
        const label = values.label as string | undefined;
        const t = await new Auth(db).createToken(u.id, { expiresAt, ...(label ? { label } : {}) });
        await audit(db, {
          action: 'token.create',
          targetType: 'token',
          targetId: t.id,
          targetSiteId: u.siteId,
          detail: { user: u.name, expiresAt: expiresAt?.toISOString() ?? null },
        });
        // The token itself on stdout (for scripts); what it is on stderr.
        console.error(
          `token ${t.id} for ${u.name}, ${expiresAt ? `expires ${expiresAt.toISOString()}` : 'never expires'}; use as: Authorization: Bearer <token>`,
        );
        console.log(t.token);
        return 0;
      });
    }
    case 'revoke': {
      const id = positionals[0];
      if (!id) throw new CliUsageError('token revoke needs the token id');
      return withDb(values, async (db) => {
        if (!(await new Auth(db).revokeToken(id))) {
          console.error(`error: no token ${id}`);
          return 1;
        }
        await audit(db, { action: 'token.revoke', targetType: 'token', targetId: id });
        await notifyServers(values, 'token revoked');
        console.log(`token ${id} revoked`);
        return 0;
      });
    }
    default:
      throw new CliUsageError(`Expected token create|revoke but received ${sub ?? 'nothing'}`);
  }
}

export async function cmdAudit(sub: string | undefined, values: Values): Promise<number> {
  if (sub !== 'export') throw new CliUsageError(`Expected audit export but received ${sub ?? 'nothing'}`);
  const format = (values.format as string | undefined) ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv')
    throw new CliUsageError(`Expected --format jsonl or csv but received ${format}`);
  const { AuditLog } = await import('../server/auth/audit.ts');
  return withDb(values, async (db) => {
    const log = new AuditLog(db);
    const lines: string[] = [];
    if (format === 'csv')
      lines.push('id,at,user_id,user_name,site_id,action,target_type,target_id,target_site_id,ip,detail');
    let before: number | undefined;
    for (;;) {
      const page = await log.query({
        ...(values.from ? { from: values.from as string } : {}),
        ...(values.to ? { to: values.to as string } : {}),
        ...(values.user ? { user: values.user as string } : {}),
        ...(values.action ? { action: values.action as string } : {}),
        ...(before !== undefined ? { before } : {}),
        limit: 1000,
      });
      for (const e of page.entries)
        lines.push(
          format === 'jsonl'
            ? JSON.stringify(e)
            : csvRow([
                e.id,
                e.at,
                e.userId,
                e.userName,
                e.siteId,
                e.action,
                e.targetType,
                e.targetId,
                e.targetSiteId,
                e.ip,
                e.detail,
              ]),
        );
      if (page.next === null) break;
      before = page.next;
    }
    await audit(db, {
      action: 'audit.export',
      detail: { format, entries: lines.length - (format === 'csv' ? 1 : 0) },
    });
    const text = lines.length ? `${lines.join('\n')}\n` : '';
    if (typeof values.out === 'string') {
      await writeFile(values.out, text, { mode: 0o600 });
      console.error(`${lines.length - (format === 'csv' ? 1 : 0)} audit entries written to ${values.out}`);
    } else process.stdout.write(text);
    return 0;
  });
}
