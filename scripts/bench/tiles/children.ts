/**
 * Child processes of the tile benchmark (the server under test, nginx, dzsave) and their cleanup.
 * Each child leads its own process group, so a server's workers or nginx's worker processes go with
 * it; every group still alive is ended when the bench exits, fails, or is interrupted.
 */
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';

const live = new Set<ChildProcess>();
let hooked = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Synchronous, so that it also runs from process 'exit'. */
export function killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const child of live) killGroup(child, signal);
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping child processes`);
      killAll('SIGTERM');
      setTimeout(() => process.exit(130), 300).unref();
    });
  }
}

export interface Child {
  process: ChildProcess;
  /** The last 16 KB of stderr, for error messages. */
  stderrTail: () => string;
  /** Resolves with the exit code (or signal) once the child is gone. */
  exited: Promise<number | NodeJS.Signals>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader has exited. */
  stop: (graceMs?: number) => Promise<void>;
}

export function startChild(
  bin: string,
  args: readonly string[],
  opts: Pick<SpawnOptions, 'env' | 'cwd'> & { stdout?: (chunk: string) => void; input?: string } = {},
): Child {
  hookExit();
  const { input, stdout: _onStdout, ...spawnOpts } = opts;
  const child = spawn(bin, args, {
    ...spawnOpts,
    detached: true,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  live.add(child);
  let tail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    tail = (tail + d).slice(-16 * 1024);
  });
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => opts.stdout?.(d));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.on('error', (e) => {
      tail += `\n${e.message}`;
      live.delete(child);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      // The leader has gone; stragglers of its group (workers) still get a kill.
      killGroup(child, 'SIGKILL');
      live.delete(child);
      resolve(signal ?? code ?? 0);
    });
  });
  const stop = async (graceMs = 3000): Promise<void> => {
    if (!live.has(child)) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { process: child, stderrTail: () => tail, exited, stop };
}

/** Run a command to completion, with cleanup if the bench stops first. */
export async function runChild(
  bin: string,
  args: readonly string[],
  opts: Pick<SpawnOptions, 'env' | 'cwd'> & { input?: string } = {},
): Promise<{ code: number | NodeJS.Signals; stdout: string; stderr: string; seconds: number }> {
  let stdout = '';
  const t0 = performance.now();
  const child = startChild(bin, args, {
    ...opts,
    stdout: (d) => {
      stdout = (stdout + d).slice(-1024 * 1024);
    },
  });
  const code = await child.exited;
  return { code, stdout, stderr: child.stderrTail(), seconds: (performance.now() - t0) / 1000 };
}

/** A port the kernel has just handed out on loopback; free again by the time this resolves. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Poll `url` until it answers `ok`, the child dies, or `timeoutMs` passes. Only loopback URLs are
 * polled, and the loop is bounded in time.
 */
export async function waitForHttp(
  url: string,
  child: Child,
  timeoutMs: number,
  ok: (status: number) => boolean = (s) => s === 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void child.exited.then(() => {
    dead = true;
  });
  let last = '';
  while (Date.now() < deadline) {
    if (dead)
      throw new Error(`${url}: the process exited before answering: ${lastLines(child.stderrTail())}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (ok(res.status)) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${url} did not answer within ${timeoutMs / 1000} s (${last}): ${lastLines(child.stderrTail())}`,
  );
}

/** The end of a process's output, led by its first error line: a stack trace's last frames tell nothing. */
export function lastLines(text: string, n = 3): string {
  const lines = text.trim().split('\n');
  const first = lines.find((l) => /error/i.test(l) && !/^\s+at /.test(l));
  const tail = lines.filter((l) => !/^\s+at /.test(l)).slice(-n);
  return [...(first && !tail.includes(first) ? [first, '…'] : []), ...tail].join(' | ') || '(no output)';
}
