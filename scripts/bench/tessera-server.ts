/**
 * The bench slide in a data folder of its own under .bench/, and `tessera serve` on it, as a child
 * process so that it is measured as it runs for a user.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { BENCH_DIR, REPO_ROOT } from './make-bench-slide.ts';
import { freePort, lastLines, runChild, startChild, waitForHttp } from './tiles/children.ts';

export const BENCH_DATA_DIR = path.join(BENCH_DIR, 'tiles-data');
const TESSERA_BIN = path.join(REPO_ROOT, 'scripts/bin/tessera.mjs');

/**
 * sharp's libvips sets VIPSHOME to its own build prefix in this process, which would send the
 * system vips looking for its modules in the wrong place.
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.VIPSHOME;
  // A log line per request would be load of the server's own making; nginx runs with access_log off.
  env.TESSERA_LOG_LEVEL ??= 'warn';
  return env;
}

/** `tessera ingest` stores the slide once; run again, it hashes the source and answers the same id. */
export async function ingestBenchSlide(
  slide: string,
): Promise<{ id: string; tileSize: number; seconds: number }> {
  const run = await runChild(
    process.execPath,
    [TESSERA_BIN, 'ingest', slide, '--data', BENCH_DATA_DIR, '--json'],
    { env: childEnv(), cwd: REPO_ROOT },
  );
  if (run.code !== 0) throw new Error(`tessera ingest exited with ${run.code}: ${lastLines(run.stderr)}`);
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  let out: { id?: unknown; tileSize?: unknown } = {};
  try {
    out = JSON.parse(line) as typeof out;
  } catch {
    // Reported below.
  }
  const { id, tileSize } = out;
  if (typeof id !== 'string' || typeof tileSize !== 'number')
    throw new Error(`tessera ingest printed no id and tile size (last line: ${line.slice(0, 200)})`);
  return { id, tileSize, seconds: run.seconds };
}

/**
 * A bearer token of a bench administrator in the bench data folder, made with the same commands a
 * user runs (`tessera user add`, `tessera token create`); a token lasting a day, each run.
 */
export async function benchToken(): Promise<string> {
  const env = childEnv();
  const list = await runChild(process.execPath, [TESSERA_BIN, 'user', 'list', '--data', BENCH_DATA_DIR], {
    env,
    cwd: REPO_ROOT,
  });
  if (!/^bench\s/m.test(list.stdout)) {
    const add = await runChild(
      process.execPath,
      [
        TESSERA_BIN,
        'user',
        'add',
        '--name',
        'bench',
        '--role',
        'admin',
        '--site',
        'bench',
        '--password-stdin',
        '--data',
        BENCH_DATA_DIR,
      ],
      { env, cwd: REPO_ROOT, input: `${randomBytes(18).toString('base64url')}\n` },
    );
    if (add.code !== 0) throw new Error(`tessera user add failed: ${lastLines(add.stderr)}`);
  }
  const tok = await runChild(
    process.execPath,
    [
      TESSERA_BIN,
      'token',
      'create',
      '--user',
      'bench',
      '--expires',
      '1d',
      '--label',
      'benchmark',
      '--data',
      BENCH_DATA_DIR,
    ],
    { env, cwd: REPO_ROOT },
  );
  const token = tok.stdout.trim();
  if (tok.code !== 0 || !token.startsWith('tsr_'))
    throw new Error(`tessera token create failed: ${lastLines(tok.stderr)}`);
  return token;
}

export interface BenchServer {
  origin: string;
  pid: number | undefined;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** `tessera serve` on the bench data folder, on a free loopback port, answering /api/health. */
export async function startBenchServer(extraEnv: NodeJS.ProcessEnv = {}): Promise<BenchServer> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const env = { ...childEnv(), ...extraEnv };
  const server = startChild(
    process.execPath,
    [TESSERA_BIN, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data', BENCH_DATA_DIR],
    { env, cwd: REPO_ROOT },
  );
  const stop = (): Promise<void> => server.stop(5000);
  try {
    await waitForHttp(`${origin}/api/health`, server, 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { origin, pid: server.process.pid, env, stop };
}
