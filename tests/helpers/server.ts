import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Role } from '../../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import type { ServerContext } from '../../server/context.ts';
import { userFetch, userWithToken } from './auth.ts';

/** A user a test signs in as: name, role, site. */
export type TestUser = readonly [name: string, role: Role, site: string];

/** A real server over HTTP on a loopback port, its own data folder and SQLite database. */
export interface TestServer {
  /** The temporary folder (the data folder is `data` inside it). */
  dir: string;
  ctx: ServerContext;
  server: Server;
  base: string;
  /** Bearer tokens, account ids and token ids by user name. */
  tokens: Record<string, string>;
  ids: Record<string, string>;
  tokenIds: Record<string, string>;
  /** fetch as a user (their bearer token), a path under `base`. */
  as: (user: string, p: string, init?: RequestInit) => Promise<Response>;
  close(): Promise<void>;
}

/**
 * Start a server with the given users, each with a bearer token; with `review`, its review hub
 * (socket.io) attached too, re-checking open connections every `recheckMs`.
 */
export async function startTestServer(
  prefix: string,
  users: readonly TestUser[],
  opts: { review?: { recheckMs?: number } } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const ctx = await createServerContext(
    loadConfig({ dataDir: path.join(dir, 'data'), port: 0, host: '127.0.0.1' }, {}),
    () => {},
  );
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const tokenIds: Record<string, string> = {};
  for (const [name, role, siteId] of users) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tokens[name] = u.token;
    ids[name] = u.id;
    tokenIds[name] = u.tokenId;
  }
  const server = createServer(createHandler(ctx, createApp(ctx)));
  if (opts.review) ctx.review.attach(server, undefined, { recheckMs: opts.review.recheckMs });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    dir,
    ctx,
    server,
    base,
    tokens,
    ids,
    tokenIds,
    as: userFetch(() => base, tokens),
    close: async () => {
      if (opts.review) await ctx.review.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await ctx.tiles.close();
      await ctx.db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
