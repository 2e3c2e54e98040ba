/**
 * The gateway alone, without Tessera: signed ranged GETs of one object sent straight at it at a
 * fixed concurrency, and what the gateway's own counters and processes say about a run. The floor
 * under any cold figure of the S3 store: a cold tile cannot come faster than one such read.
 */
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { RangedGet } from '../../../tiles/store/s3-get.ts';
import { cpuOf } from './load.ts';
import { prng } from './mix.ts';

/** An object on the gateway and how to sign requests for it. */
export interface RawObject {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  key: string;
  /** The object's size. */
  size: number;
}

export interface RawOptions extends RawObject {
  /** Bytes a request. */
  length: number;
  /** Requests in flight at once. */
  concurrency: number;
  requests: number;
  seed?: number;
}

export interface RawResult {
  concurrency: number;
  length: number;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
}

/** Percentile of sorted milliseconds. */
function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * `requests` ranged GETs of `length` bytes at random offsets, `concurrency` at a time, each on a
 * keep-alive connection of its own (as many sockets as requests in flight: no queueing on our side).
 */
export async function rawRangedGets(o: RawOptions): Promise<RawResult> {
  const client = new RangedGet({
    bucket: o.bucket,
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: true,
    credentials: () => Promise.resolve({ accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey }),
    maxSockets: o.concurrency,
  });
  const rand = prng(o.seed ?? 7);
  const span = Math.max(1, o.size - o.length);
  const times: number[] = [];
  let next = 0;
  try {
    // One request per socket first, so the handshakes are not counted.
    await Promise.all(
      Array.from({ length: o.concurrency }, () => client.get(o.key, `bytes=0-${o.length - 1}`)),
    );
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (next < o.requests) {
          next++;
          const at = Math.floor(rand() * span);
          const t = performance.now();
          await client.get(o.key, `bytes=${at}-${at + o.length - 1}`);
          times.push(performance.now() - t);
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    times.sort((a, b) => a - b);
    return {
      concurrency: o.concurrency,
      length: o.length,
      requests: times.length,
      perSecond: times.length / secs,
      p50: pct(times, 50),
      p99: pct(times, 99),
      max: times.at(-1) ?? NaN,
    };
  } finally {
    client.destroy();
  }
}

/** What the gateway counted: requests, GETs, and the summed latency to each GET's first byte. */
export interface RgwCounters {
  requests: number;
  gets: number;
  getBytes: number;
  getLatencySeconds: number;
  /** CPU seconds of the gateway's daemons (radosgw, the OSD, the monitor). */
  cpuSeconds: number;
}

/** The gateway's counters now (from its admin socket), or null when they cannot be read. */
export function rgwCounters(dir: string): Promise<RgwCounters | null> {
  const cpuSeconds = rgwPids(dir).reduce((s, pid) => s + cpuOf(pid), 0);
  return new Promise((resolve) => {
    execFile(
      'ceph',
      ['--admin-daemon', path.join(dir, 'run', 'client.rgw.asok'), 'perf', 'dump', 'rgw'],
      { timeout: 10_000 },
      (err, stdout) => {
        if (err) return resolve(null);
        try {
          const r = (JSON.parse(stdout) as { rgw: Record<string, unknown> }).rgw;
          const lat = r.get_initial_lat as { sum: number } | undefined;
          resolve({
            requests: Number(r.req),
            gets: Number(r.get),
            getBytes: Number(r.get_b),
            getLatencySeconds: lat?.sum ?? 0,
            cpuSeconds,
          });
        } catch {
          resolve(null);
        }
      },
    );
  });
}

/** Pids of the gateway's daemons, from the `pids` file start-rgw.sh writes. */
function rgwPids(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'pids'), 'utf8')
      .split('\n')
      .map((l) => Number(l.split(' ')[0]))
      .filter((p) => p > 0);
  } catch {
    return [];
  }
}

/** The difference of two readings, as a line: requests, mean bytes and first-byte latency, CPU. */
export function countersLine(a: RgwCounters | null, b: RgwCounters | null, seconds: number): string {
  if (!a || !b) return 'gateway counters unavailable';
  const gets = b.gets - a.gets;
  const lat = gets > 0 ? ((b.getLatencySeconds - a.getLatencySeconds) / gets) * 1000 : NaN;
  const kb = gets > 0 ? (b.getBytes - a.getBytes) / gets / 1024 : NaN;
  const cpu = ((b.cpuSeconds - a.cpuSeconds) / Math.max(seconds, 1e-3)) * 100;
  return `${b.requests - a.requests} gateway requests (${gets} GETs, ${kb.toFixed(1)} KB each, ${lat.toFixed(2)} ms to first byte inside the gateway on average), gateway CPU ${cpu.toFixed(0)}%`;
}
