/**
 * Replays a list of tile paths against one HTTP server with wrk (Debian's package: a C load
 * generator on epoll). autocannon runs JavaScript for every response and tops out near 13,000
 * responses/s on one core of this machine against any server, so on two shared cores it measures
 * itself as much as the server; wrk costs about a third of that per request.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuOf, type LoadOptions, type LoadResult, watchCpu } from './load.ts';
import { runChild } from './children.ts';

const luaString = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;

/**
 * The wrk script: every connection of the one thread takes the next path of the mix in turn, with
 * the headers given; at the end one JSON line with counts and latency percentiles (microseconds).
 */
export function wrkScript(paths: readonly string[], headers: Record<string, string>): string {
  const hs = Object.entries(headers)
    .map(([k, v]) => `[${luaString(k)}] = ${luaString(v)}`)
    .join(', ');
  return `local paths = {\n${paths.map((p) => `  ${luaString(p)},`).join('\n')}\n}
local headers = { ${hs} }
local n = #paths
local i = 0
request = function()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("GET", paths[i], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK_JSON {"requests":%d,"bytes":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%f,"p90":%f,"p99":%f,"max":%f}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;
}

interface WrkSummary {
  requests: number;
  bytes: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function parseWrkOutput(stdout: string): WrkSummary {
  const line = stdout.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (!line) throw new Error(`wrk printed no summary: ${stdout.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(line.slice('WRK_JSON '.length)) as WrkSummary;
}

/**
 * One wrk run of `opts.duration` seconds (one thread, `opts.connections` connections). `amount`
 * (a warm-up pass) is approximated by a run of a couple of seconds: wrk counts time, not requests.
 */
export async function replayWrk(opts: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-wrk-'));
  try {
    const script = path.join(dir, 'mix.lua');
    writeFileSync(script, wrkScript(opts.paths, opts.headers ?? {}));
    const duration = opts.amount ? 3 : opts.duration;
    // wrk is a child of this process: once reaped, its CPU time shows in this process's counters.
    const cpu = watchCpu(opts.serverPid, () => cpuOf(process.pid));
    const t0 = performance.now();
    const run = await runChild('wrk', [
      '-t1',
      `-c${opts.connections}`,
      `-d${duration}s`,
      '--timeout',
      '10s',
      '-s',
      script,
      opts.origin,
    ]);
    const seconds = (performance.now() - t0) / 1000;
    if (run.code !== 0) throw new Error(`wrk exited with ${run.code}: ${run.stderr.trim().slice(-300)}`);
    const s = parseWrkOutput(run.stdout);
    const cpuFigures = cpu(seconds);
    const runSeconds = s.durationUs / 1e6;
    const errors = s.connect + s.read + s.write;
    const ok = s.requests - s.status;
    return {
      connections: opts.connections,
      seconds: runSeconds,
      ok,
      tilesPerSecond: ok / runSeconds,
      p50: s.p50 / 1000,
      p90: s.p90 / 1000,
      p99: s.p99 / 1000,
      max: s.max / 1000,
      errors,
      timeouts: s.timeout,
      non2xx: s.status,
      // wrk counts responses of 400 and above as status errors, without their codes.
      statusCodes: s.status > 0 ? { '4xx/5xx': s.status } : {},
      bytes: s.bytes,
      mbPerSecond: s.bytes / 1e6 / runSeconds,
      ...cpuFigures,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
