import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlideError } from '../../errors.ts';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'region-reader.py');
/** Debian's python3 sees python3-openslide; a pyenv or venv python on PATH may not. */
const DEFAULT_PYTHON = '/usr/bin/python3';
/** Requests waiting on one reader process before more are refused (the tile service queues its own). */
const MAX_PENDING = 256;
/** How long a reader process is given to end on close before it is killed. */
const CLOSE_GRACE_MS = 1000;

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

/** One long-lived python3-openslide process: requests written in order, answers read in order. */
class RegionProcess {
  readonly pending: Pending[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private buf: Buffer = Buffer.alloc(0);
  private dead: Error | null = null;
  readonly exited: Promise<void>;

  constructor(python: string) {
    this.child = spawn(python, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d: string) => {
      if (stderr.length < 4000) stderr += d;
    });
    this.child.stdout.on('data', (d: Buffer) => this.onData(d));
    // A write to a process that has gone is reported by 'exit' below.
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      const gone = (why: string): void => {
        this.fail(new SlideError('INTERNAL', `the OpenSlide region reader ${why}${tail(stderr)}`));
        resolve();
      };
      this.child.on('error', (e) => gone(`could not start (${python}: ${e.message})`));
      this.child.on('exit', (code, signal) => gone(`ended (${signal ?? `exit code ${code}`})`));
    });
    this.idle();
  }

  get alive(): boolean {
    return this.dead === null;
  }

  request(req: object): Promise<Buffer> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.pending.length >= MAX_PENDING)
      return Promise.reject(new SlideError('SERVER_BUSY', 'too many regions asked of the OpenSlide reader'));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      if (this.pending.length === 1) this.busy();
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** Ask it to end (stdin closed); killed if it has not after a grace period. */
  async close(): Promise<void> {
    if (this.dead) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), CLOSE_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8) {
      const status = this.buf.readUInt32LE(0);
      const length = this.buf.readUInt32LE(4);
      if (this.buf.length < 8 + length) break;
      const payload = this.buf.subarray(8, 8 + length);
      this.buf = this.buf.subarray(8 + length);
      const p = this.pending.shift();
      if (!p) continue;
      if (status === 0) p.resolve(Buffer.from(payload));
      else p.reject(new SlideError('CORRUPT_FILE', `OpenSlide: ${payload.toString('utf8')}`));
    }
    if (this.pending.length === 0) this.idle();
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.splice(0)) p.reject(e);
  }

  /** An idle reader does not keep the process alive; one with requests out does. */
  private idle(): void {
    this.child.unref();
    unrefStream(this.child.stdout);
    unrefStream(this.child.stderr);
    unrefStream(this.child.stdin);
  }

  private busy(): void {
    this.child.ref();
    refStream(this.child.stdout);
  }
}

function unrefStream(s: unknown): void {
  (s as { unref?: () => void }).unref?.();
}
function refStream(s: unknown): void {
  (s as { ref?: () => void }).ref?.();
}

function tail(stderr: string): string {
  const last = stderr.trim().split('\n').slice(-2).join(' ').trim();
  return last ? `: ${last}` : '';
}

/**
 * Regions of OpenSlide-format slides read on request by a few long-lived python3-openslide processes
 * (the `vips` command converts, but starting it costs far more than a tile). Bounded: at most
 * `size` processes, each answering in order; a region goes to the one with the fewest waiting. A
 * process that dies fails its waiting requests and is replaced at the next request.
 */
export class RegionReaders {
  private readonly procs: RegionProcess[] = [];
  private closed = false;

  constructor(
    private readonly python: string = process.env.TESSERA_OPENSLIDE_PYTHON ?? DEFAULT_PYTHON,
    private readonly size: number = Math.max(1, Math.min(2, os.cpus().length)),
  ) {}

  /**
   * w x h pixels (packed 8-bit RGB) of `level` from level-0 position (x0, y0): OpenSlide's
   * read_region, transparent areas on the slide's background colour.
   */
  read(file: string, level: number, x0: number, y0: number, w: number, h: number): Promise<Buffer> {
    return this.pick().request({ file, level, x: x0, y: y0, w, h });
  }

  /**
   * Start every reader process now, so the first slide served from its source does not wait for
   * python and OpenSlide to load (~0.2-0.3 s each here). They idle on their pipes until asked.
   */
  prestart(): void {
    if (this.closed) return;
    for (let i = this.procs.length - 1; i >= 0; i--) if (!this.procs[i]!.alive) this.procs.splice(i, 1);
    while (this.procs.length < this.size) this.procs.push(new RegionProcess(this.python));
  }

  /** The slide's OpenSlide properties (level sizes, scale, vendor metadata). */
  async properties(file: string): Promise<Record<string, string>> {
    const json = await this.pick().request({ properties: file });
    return JSON.parse(json.toString('utf8')) as Record<string, string>;
  }

  /** Close the slide in every process that has it open. */
  async forget(file: string): Promise<void> {
    await Promise.all(
      this.procs.filter((p) => p.alive).map((p) => p.request({ forget: file }).catch(() => undefined)),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.procs.splice(0).map((p) => p.close()));
  }

  private pick(): RegionProcess {
    if (this.closed) throw new SlideError('INTERNAL', 'the OpenSlide region readers are closed');
    for (let i = this.procs.length - 1; i >= 0; i--) if (!this.procs[i]!.alive) this.procs.splice(i, 1);
    let best = this.procs.reduce<RegionProcess | null>(
      (b, p) => (b === null || p.pending.length < b.pending.length ? p : b),
      null,
    );
    if (!best || (best.pending.length > 0 && this.procs.length < this.size)) {
      best = new RegionProcess(this.python);
      this.procs.push(best);
    }
    return best;
  }
}

let shared: RegionReaders | null = null;

/** This process's region readers (started on first use). */
export function regionReaders(): RegionReaders {
  shared ??= new RegionReaders();
  return shared;
}

/** End this process's region readers (tests, shutdown); the next use starts new ones. */
export async function closeRegionReaders(): Promise<void> {
  const r = shared;
  shared = null;
  await r?.close();
}
