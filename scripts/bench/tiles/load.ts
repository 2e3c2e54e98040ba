/**
 * Replays a list of tile paths against one HTTP server with autocannon, and measures what the
 * server and the load generator cost while it does (they share the same cores).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import autocannon from 'autocannon';
import { processTree } from '../measure.ts';

export interface LoadOptions {
  /** `http://127.0.0.1:PORT`: load goes to loopback only. */
  origin: string;
  paths: readonly string[];
  connections: number;
  /** Seconds; ignored when `amount` is given. */
  duration: number;
  /** Stop after this many responses instead (a warm-up pass). */
  amount?: number;
  /** Root of the server's process tree, for its CPU time. */
  serverPid?: number;
  /** Sent with every request (the bearer token Tessera needs). */
  headers?: Record<string, string>;
}

export interface LoadResult {
  connections: number;
  seconds: number;
  /** Responses with a 2xx status. */
  ok: number;
  tilesPerSecond: number;
  /** Milliseconds, over 2xx and non-2xx responses alike (an error answered fast is not hidden). */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  bytes: number;
  mbPerSecond: number;
  /** Percent of one core over the run. */
  serverCpu: number | null;
  loadGenCpu: number;
  /** Percent of the whole machine (all cores) busy over the run. */
  machineBusy: number;
  /**
   * Percent of one core used by neither the server nor the load generator: other work on the
   * machine, which makes a run noisy.
   */
  otherCpu: number;
}

const TICK = 100;

/** utime + stime of a process and of its reaped children, in seconds. */
export function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14-17 of stat(5), counted from the state field (3) here.
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICK;
  } catch {
    return 0;
  }
}

function treeCpu(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + cpuOf(pid), 0);
}

/** Busy and total jiffies of the machine, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  try {
    const cpu = readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.reduce((a, b) => a + b, 0);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** CPU figures of one run; see LoadResult. */
export type CpuFigures = Pick<LoadResult, 'serverCpu' | 'loadGenCpu' | 'machineBusy' | 'otherCpu'>;

/**
 * Start counting the CPU time of the server's process tree, of the load generator (`loadGenSeconds`
 * reads its CPU seconds so far) and of the whole machine; the function returned ends the count over
 * `seconds` of wall time. Shared by the autocannon and wrk runs, so both report alike.
 */
export function watchCpu(
  serverPid: number | undefined,
  loadGenSeconds: () => number,
): (seconds: number) => CpuFigures {
  const gen0 = loadGenSeconds();
  const server0 = serverPid ? treeCpu(serverPid) : 0;
  const machine0 = machineTicks();
  return (seconds) => {
    const loadGenCpu = ((loadGenSeconds() - gen0) / seconds) * 100;
    const serverCpu = serverPid ? ((treeCpu(serverPid) - server0) / seconds) * 100 : null;
    const machine1 = machineTicks();
    const machineBusy =
      machine1.total > machine0.total
        ? ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * 100
        : NaN;
    return {
      serverCpu,
      loadGenCpu,
      machineBusy,
      otherCpu:
        serverCpu === null
          ? NaN
          : Math.max(0, (machineBusy / 100) * os.availableParallelism() * 100 - serverCpu - loadGenCpu),
    };
  };
}

/** Percent of the whole machine busy over `ms`, before anything of the bench loads it. */
export async function machineBusyOver(ms: number): Promise<number> {
  const a = machineTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineTicks();
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * 100 : NaN;
}

/** Percentile of sorted values, nearest rank. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/**
 * autocannon 8 appends every body chunk to a string (`req.body += chunk`) for its verifyBody and
 * onResponse hooks, which this bench does not use. On a JPEG that is a UTF-8 decode full of
 * replacement characters: ~0.3 ms per 27 KB tile, which capped the load generator at ~3,000
 * tiles/s against any server on this machine. Byte counts come from elsewhere and are unaffected.
 */
function skipBodyDecoding(c: autocannon.Client): void {
  const queue = (c as unknown as { pipelinedRequests?: { addBody?: unknown } }).pipelinedRequests;
  if (!queue || typeof queue.addBody !== 'function') {
    throw new Error(
      'autocannon internals changed (client.pipelinedRequests.addBody): update skipBodyDecoding',
    );
  }
  queue.addBody = () => {};
}

/**
 * The mix is dealt out in order: each connection plays its own stretch of fields of view, over and
 * over, and together they cover the whole mix in every round. Handing every connection the whole
 * mix would cost autocannon one request build per URL per connection (~3 s of blocked event loop
 * at 128 connections), inside the measured time.
 */
export async function replay(opts: LoadOptions): Promise<LoadResult> {
  const headers = opts.headers ?? {};
  const requests: autocannon.Request[] = opts.paths.map((p) => ({ method: 'GET', path: p, headers }));
  let client = 0;
  const setupClient = (c: autocannon.Client): void => {
    skipBodyDecoding(c);
    const i = client++;
    const n = requests.length;
    const start = Math.floor((i * n) / opts.connections) % n;
    const end = Math.max(start + 1, Math.floor(((i + 1) * n) / opts.connections));
    c.setRequests(requests.slice(start, end));
  };
  // Latency is kept per response, in floating-point milliseconds: autocannon's own histogram
  // rounds to whole milliseconds, too coarse for a p50 of a fraction of one.
  let lat = new Float64Array(1 << 16);
  let n = 0;
  // autocannon runs in this process: its CPU is this process's.
  const cpu = watchCpu(opts.serverPid, () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
  const t0 = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.origin,
        connections: opts.connections,
        duration: opts.duration,
        ...(opts.amount ? { amount: opts.amount } : {}),
        timeout: 10,
        headers,
        requests: [{ method: 'GET', path: opts.paths[0] ?? '/', headers }],
        setupClient,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      if (n === lat.length) {
        const grown = new Float64Array(lat.length * 2);
        grown.set(lat);
        lat = grown;
      }
      lat[n++] = responseTime;
    });
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpuFigures = cpu(seconds);
  const sorted = lat.subarray(0, n).sort();
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = Number(s.count);
  const bytes = result.throughput.total;
  return {
    connections: opts.connections,
    seconds,
    ok: result['2xx'],
    tilesPerSecond: result['2xx'] / seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    bytes,
    mbPerSecond: bytes / 1e6 / seconds,
    ...cpuFigures,
  };
}
