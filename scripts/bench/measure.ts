import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** What one command cost: wall time and memory of its whole process tree. */
export interface Measurement {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  wallSeconds: number;
  /**
   * Peak resident memory of the tree in bytes: the larger of the highest sampled sum of VmRSS over
   * the process and its descendants, and the highest VmHWM of any single one of them (exact for the
   * biggest process, even between samples).
   */
  peakRssBytes: number;
  /** Processes seen in the tree (the command itself, workers, helpers). */
  processes: number;
  stdout: string;
  stderrTail: string;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Sampling period of /proc; 50 ms catches the plateau of any step that lasts longer. */
  intervalMs?: number;
}

/** Parent pid of every live process, from /proc/<pid>/stat (the comm field may hold spaces or ')'). */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(pid, Number(rest[1]));
    } catch {
      // The process ended between readdir and read.
    }
  }
  return parents;
}

/** The root and all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parentMap()) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** VmRSS and VmHWM of one process in bytes, or null once it has gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const kb = (key: string): number =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
  } catch {
    return null;
  }
}

/**
 * Run a command to completion and measure it. Memory is sampled from /proc (Linux only) rather than
 * taken from `time -v`, whose figure is the largest single process: ingest forks a worker, so the
 * tree's sum is what the machine has to hold.
 */
export function measure(
  bin: string,
  args: readonly string[],
  opts: MeasureOptions = {},
): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const pid = child.pid;
    let peakSum = 0;
    let peakSingle = 0;
    const seen = new Set<number>();
    const sample = (): void => {
      if (pid === undefined) return;
      let sum = 0;
      for (const p of processTree(pid)) {
        const m = memoryOf(p);
        if (!m) continue;
        seen.add(p);
        sum += m.rss;
        peakSingle = Math.max(peakSingle, m.hwm);
      }
      peakSum = Math.max(peakSum, sum);
    };
    const timer = setInterval(sample, opts.intervalMs ?? 50);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      stdout = (stdout + d).slice(-64 * 1024);
    });
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-8 * 1024);
    });
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      resolve({
        command: [bin, ...args].join(' '),
        code,
        signal,
        wallSeconds: Number(process.hrtime.bigint() - t0) / 1e9,
        peakRssBytes: Math.max(peakSum, peakSingle),
        processes: seen.size,
        stdout,
        stderrTail: stderr,
      });
    });
  });
}
