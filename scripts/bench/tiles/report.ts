/** Output of the tile benchmark: one line per run as it ends, then a table and the targets. */
import type { LoadResult } from './load.ts';

export const TARGETS = {
  tilesPerSecond: 20_000,
  p99Ms: 10,
  p99Connections: 32,
  nginxRatio: 0.2,
} as const;

/** A load generator above this share of one core was probably the limit, not the server. */
const SATURATED_CPU = 90;

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function runLine(name: string, r: LoadResult): string {
  const codes = Object.entries(r.statusCodes)
    .filter(([c]) => !c.startsWith('2'))
    .map(([c, k]) => `${c}: ${k}`)
    .join(', ');
  return `${name.padEnd(8)} ${String(r.connections).padStart(4)} conns  ${fmt(r.tilesPerSecond).padStart(7)} tiles/s  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  ${fmt(r.mbPerSecond, 1)} MB/s  errors ${r.errors}  non-2xx ${r.non2xx}${codes ? ` (${codes})` : ''}`;
}

function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function summaryTable(results: readonly { name: string; runs: readonly LoadResult[] }[]): string {
  return table(
    [
      '',
      'conns',
      'tiles/s',
      'p50 ms',
      'p99 ms',
      'max ms',
      'errors',
      'non-2xx',
      'MB/s',
      'server CPU',
      'loadgen CPU',
      'machine busy',
      'other CPU',
    ],
    results.flatMap(({ name, runs }) =>
      runs.map((r) => [
        name,
        String(r.connections),
        fmt(r.tilesPerSecond),
        fmt(r.p50, 2),
        fmt(r.p99, 2),
        fmt(r.max, 1),
        String(r.errors),
        String(r.non2xx),
        fmt(r.mbPerSecond, 1),
        r.serverCpu === null ? '—' : `${fmt(r.serverCpu)}%`,
        `${fmt(r.loadGenCpu)}%`,
        `${fmt(r.machineBusy)}%`,
        Number.isFinite(r.otherCpu) ? `${fmt(r.otherCpu)}%` : '—',
      ]),
    ),
  );
}

const clean = (r: LoadResult): boolean => r.errors === 0 && r.non2xx === 0;
const saturated = (r: LoadResult): boolean => r.loadGenCpu >= SATURATED_CPU;
const verdict = (pass: boolean): string => (pass ? 'PASS' : 'FAIL');

/** The targets, one line each; `ok` is false when any target fails or could not be measured. */
export function verdicts(
  tessera: readonly LoadResult[] | undefined,
  nginx: readonly LoadResult[] | undefined,
  cores: number,
  /** node:http alone with a constant buffer: the ceiling of Node's HTTP stack here. */
  ceiling?: readonly LoadResult[],
): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  if (!tessera || tessera.length === 0) return { lines: ['tessera     not measured'], ok: false };
  let ok = true;
  const peak = tessera.reduce((a, b) => (b.tilesPerSecond > a.tilesPerSecond ? b : a));
  const passRate = peak.tilesPerSecond >= TARGETS.tilesPerSecond && clean(peak);
  ok &&= passRate;
  lines.push(
    `throughput  tessera ${fmt(peak.tilesPerSecond)} tiles/s at ${peak.connections} connections (target >= ${fmt(TARGETS.tilesPerSecond)} on 2 cores; ${cores} here, shared with the load generator)  ${verdict(passRate)}`,
  );
  const at = tessera.find((r) => r.connections === TARGETS.p99Connections);
  if (at) {
    const passP99 = at.p99 <= TARGETS.p99Ms && clean(at);
    ok &&= passP99;
    lines.push(
      `latency     tessera p99 ${fmt(at.p99, 2)} ms at ${TARGETS.p99Connections} connections (target <= ${TARGETS.p99Ms} ms)  ${verdict(passP99)}`,
    );
  } else {
    ok = false;
    lines.push(`latency     not measured at ${TARGETS.p99Connections} connections (see --connections)`);
  }
  if (tessera.some((r) => !clean(r))) {
    lines.push('errors      some tessera requests failed or were not 2xx: those runs cannot pass');
  }
  if (nginx && nginx.length > 0) {
    const nginxPeak = nginx.reduce((a, b) => (b.tilesPerSecond > a.tilesPerSecond ? b : a));
    const ratio = peak.tilesPerSecond / nginxPeak.tilesPerSecond;
    const passRatio = ratio >= TARGETS.nginxRatio;
    ok &&= passRatio;
    const each = tessera
      .map((t) => ({ t, n: nginx.find((r) => r.connections === t.connections) }))
      .filter((p): p is { t: LoadResult; n: LoadResult } => p.n !== undefined)
      .map((p) => `${fmt(p.t.tilesPerSecond / p.n.tilesPerSecond, 2)}x at ${p.t.connections}`)
      .join(', ');
    lines.push(
      `vs nginx    tessera/nginx ${fmt(ratio, 2)}x peak against peak (${each}) (target >= ${TARGETS.nginxRatio}x)  ${verdict(passRatio)}`,
    );
    if (saturated(nginxPeak)) {
      lines.push(
        `            nginx's peak was held back by the load generator (${fmt(nginxPeak.loadGenCpu)}% of a core): nginx alone is faster, so the true ratio is lower`,
      );
    }
  } else {
    ok = false;
    lines.push('vs nginx    not measured');
  }
  if (ceiling && ceiling.length > 0) {
    const top = ceiling.reduce((a, b) => (b.tilesPerSecond > a.tilesPerSecond ? b : a));
    lines.push(
      `node:http   ${fmt(top.tilesPerSecond)} responses/s at ${top.connections} connections for one constant buffer, one process: tessera does ${fmt((peak.tilesPerSecond / top.tilesPerSecond) * 100)}% of what Node's HTTP stack alone does here`,
    );
  }
  if (saturated(peak)) {
    lines.push(
      `note        the load generator used ${fmt(peak.loadGenCpu)}% of a core at tessera's peak: the server may do more than this figure`,
    );
  }
  return { lines, ok };
}
