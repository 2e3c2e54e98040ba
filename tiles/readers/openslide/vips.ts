import { spawn } from 'node:child_process';
import path from 'node:path';
import { SlideError } from '../../errors.ts';

/** Shown whenever OpenSlide formats cannot be read; names the package that fixes it. */
export const INSTALL_HINT = "needs the 'vips' command with OpenSlide: apt-get install libvips-tools";

/** The `vips` executable: an explicit option wins, then TESSERA_VIPS_BIN, then PATH. */
export function resolveVipsBin(explicit?: string): string {
  return explicit ?? process.env.TESSERA_VIPS_BIN ?? 'vips';
}

/** Debian installs `vipsheader` beside `vips`; a bare command name is looked up on PATH. */
export function vipsheaderBin(vipsBin: string): string {
  return vipsBin.includes(path.sep) ? path.join(path.dirname(vipsBin), 'vipsheader') : 'vipsheader';
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Called with each `--vips-progress` percentage, 0..100, as it is printed. */
  onPercent?: (percent: number) => void;
}

/**
 * Run a command to completion, collecting its output. Rejects only when it cannot be started
 * (ENOENT...) or when `signal` aborts it, in which case the child is killed first.
 */
export function run(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(abortReason(opts.signal));
      return;
    }
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: vipsEnv() });
    const out: string[] = [];
    const err: string[] = [];
    let errBytes = 0;
    let outBytes = 0;
    // Progress lines end in '\r', not '\n': keep the unfinished tail between chunks.
    let pending = '';
    let settled = false;
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      // Progress output of a long run is megabytes and only its percentages matter.
      if (outBytes < 64 * 1024) out.push(chunk);
      outBytes += chunk.length;
      if (!opts.onPercent) return;
      pending += chunk;
      const parts = pending.split(/[\r\n]/);
      pending = parts.pop() ?? '';
      for (const line of parts) {
        const m = /: (\d{1,3})% complete/.exec(line);
        if (m) opts.onPercent(Number(m[1]));
      }
    });
    child.stderr.on('data', (chunk: string) => {
      // A failing read warns once per tile; the first few kB say why.
      if (errBytes < 64 * 1024) err.push(chunk);
      errBytes += chunk.length;
    });
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) reject(abortReason(opts.signal));
      else resolve({ code, signal, stdout: out.join(''), stderr: err.join('') });
    });
  });
}

/**
 * The environment for a child `vips`. Once sharp has loaded, its bundled libvips has set VIPSHOME to
 * its own build prefix in this process; inherited, that sends the system vips looking for its modules
 * (OpenSlide among them) in a folder that does not exist.
 */
export function vipsEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.VIPSHOME;
  return env;
}

function abortReason(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const e = new Error('aborted');
  e.name = 'AbortError';
  return e;
}

const available = new Map<string, Promise<boolean>>();

/**
 * Whether `bin` runs and was built with OpenSlide. A yes is remembered per executable; a no is asked
 * again next time, so installing the package takes effect without a restart.
 */
export function hasOpenslide(bin: string): Promise<boolean> {
  let p = available.get(bin);
  if (!p) {
    p = run(bin, ['-l', 'openslideload'])
      .then((r) => r.code === 0 && r.stdout.includes('(openslideload)'))
      .catch(() => false)
      .then((ok) => {
        if (!ok) available.delete(bin);
        return ok;
      });
    available.set(bin, p);
  }
  return p;
}

/** Throw MISSING_DEPENDENCY unless `bin` can read OpenSlide formats. */
export async function requireOpenslide(bin: string, what: string): Promise<void> {
  if (!(await hasOpenslide(bin))) throw new SlideError('MISSING_DEPENDENCY', `${what} ${INSTALL_HINT}`);
}

/**
 * Turn a failed vips run into one line a user can act on. OpenSlide's messages are the useful part;
 * vips wraps them in warnings and repeats them per tile.
 */
export function vipsFailure(r: RunResult, file: string, action: string, label?: string): SlideError {
  const name = path.basename(file);
  const lines = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const missingData = /Couldn't open (\S*?([^/\s]+\.dat))\b/i.exec(r.stderr);
  if (missingData) {
    return new SlideError('CORRUPT_FILE', `MIRAX slide incomplete: cannot open ${missingData[2]}`);
  }
  if (/No space left on device/i.test(r.stderr)) {
    return new SlideError('INGEST_FAILED', `no space left on the scratch disk while ${action} ${name}`);
  }
  if (r.signal) {
    return new SlideError('CORRUPT_FILE', `OpenSlide crashed (${r.signal}) while ${action} ${name}`);
  }
  // vips tried its other loaders (ImageMagick, TIFF) because OpenSlide refused the file outright;
  // their complaints would only confuse, and for a file that names its format this means damage.
  if (label && !/openslide/i.test(r.stderr)) {
    return new SlideError(
      'CORRUPT_FILE',
      `${name}: OpenSlide does not recognise it as ${label} (damaged or truncated?)`,
    );
  }
  const unsupported = lines.find((l) =>
    /not a known file format|not in a supported format|unsupported|no property named|does not support optional argument/i.test(
      l,
    ),
  );
  if (unsupported) {
    // vips's own loader-selection errors say nothing useful; OpenSlide's name the unsupported feature.
    const detail = /openslide/i.test(unsupported) ? oneLine(unsupported) : 'OpenSlide cannot read this file';
    return new SlideError('UNSUPPORTED_FORMAT', `${name}: ${detail}`);
  }
  const reason =
    lines.find((l) => /openslide/i.test(l) && !/VIPS-WARNING/.test(l)) ??
    lines.find((l) => !/VIPS-WARNING|^\(vips:\d+\)/.test(l)) ??
    `vips exited with code ${r.code}`;
  return new SlideError('CORRUPT_FILE', `${name}: ${oneLine(reason)}`);
}

function oneLine(s: string): string {
  const clean = s.replace(/^[\w]+2vips: |^openslide2vips: /, '').replace(/\s+/g, ' ');
  return clean.length > 200 ? `${clean.slice(0, 197)}...` : clean;
}
