/**
 * A real redis-server for a test file (Debian's package redis-server): on a free port, in memory,
 * killed at the end. Missing, the tests that need it skip with a message, and fail under CI=true.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { freePort } from '../../scripts/bench/tiles/children.ts';

export { freePort };

export const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

/** Whether the tests needing Redis can run here; throws under CI=true when they cannot. */
export function requireRedis(what = 'these tests'): boolean {
  if (haveRedis) return true;
  if (process.env.CI === 'true') throw new Error('redis-server missing (apt-get install redis-server)');
  console.warn(`skipping ${what}: no redis-server on PATH (apt-get install redis-server)`);
  return false;
}

export interface RedisServer {
  port: number;
  url: string;
  process: ChildProcess;
  stop(): void;
}

/** Start redis-server and resolve once it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const p = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  for (let i = 0; ; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(port), 'ping'])
        .stdout?.toString()
        .trim() === 'PONG'
    )
      break;
    if (i > 200) {
      p.kill('SIGKILL');
      throw new Error(`redis-server did not answer on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, url: `redis://127.0.0.1:${port}`, process: p, stop: () => void p.kill('SIGKILL') };
}
