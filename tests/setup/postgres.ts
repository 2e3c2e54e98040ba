/**
 * Global setup of `npm run test:postgres`: a throwaway PostgreSQL cluster (Debian's server, as the
 * `postgres` user when run as root: it refuses to run as root) in a temporary folder, on a free
 * loopback port, trusted local connections, durability off (a test cluster is thrown away). Every
 * database a test opens is made on it (server/db/index.ts, TESSERA_TEST_POSTGRES).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { freePort } from '../../scripts/bench/tiles/children.ts';
import { tmpdir } from 'node:os';
import path from 'node:path';

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions)
    if (existsSync(path.join(root, v, 'bin', 'initdb'))) return path.join(root, v, 'bin');
  throw new Error(
    'PostgreSQL server not found under /usr/lib/postgresql (Debian package postgresql): needed by npm run test:postgres',
  );
}

export default async function setup(): Promise<() => void> {
  const bin = binDir();
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-pg-'));
  const data = path.join(dir, 'data');
  const root = process.getuid?.() === 0;
  if (root) {
    chmodSync(dir, 0o777);
  }
  const as = (cmd: string, args: string[]): void => {
    const r = root
      ? spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { encoding: 'utf8' })
      : spawnSync(path.join(bin, cmd), args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout || r.error}`);
  };
  const port = await freePort();
  as('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  as('pg_ctl', [
    '-D',
    data,
    '-l',
    path.join(dir, 'server.log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400`,
    'start',
  ]);
  process.env.TESSERA_TEST_POSTGRES = `postgres://postgres@127.0.0.1:${port}/postgres`;
  console.log(
    `PostgreSQL (${path.basename(path.dirname(bin))}) for the tests on 127.0.0.1:${port}, in ${dir}`,
  );
  return () => {
    try {
      as('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
