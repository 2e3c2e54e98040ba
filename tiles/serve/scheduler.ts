import { SlideError } from '../errors.ts';

/**
 * A render was refused because the queue is full (all requesters together, or this requester's
 * share of it). The request itself is fine: it may be sent again after `retryAfterSeconds`.
 */
export class RenderQueueFull extends SlideError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('SERVER_BUSY', message);
    this.name = 'RenderQueueFull';
  }
}

export function isRenderQueueFull(e: unknown): e is RenderQueueFull {
  return e instanceof RenderQueueFull;
}

export interface RenderSchedulerOptions {
  /** Renders running at once. */
  concurrency: number;
  /** Renders waiting, all requesters together (default 256). */
  maxQueued?: number;
  /** Renders waiting for one requester (default 64). */
  maxQueuedPerRequester?: number;
  /**
   * Renders of at most this cost may also use one slot beyond `concurrency` (default 2048² = 4 Mpx,
   * tens of milliseconds; 0 = no such slot): a thumbnail does not wait for a 16 Mpx upscale to end.
   */
  smallCost?: number;
}

/** What the scheduler needs to know about one render. */
export interface RenderJob {
  /** Pixels the render touches: output pixels plus source pixels read. Smaller goes first. */
  cost: number;
  /** Who asked (a user id); renders without one share one turn. */
  requester?: string;
  /** False once nobody wants the result: the render is then dropped instead of started. */
  wanted?: () => boolean;
}

interface Waiting {
  cost: number;
  seq: number;
  wanted: () => boolean;
  start: () => void;
  reject: (e: unknown) => void;
}

interface Requester {
  /** Sorted by cost, then arrival. */
  waiting: Waiting[];
  running: number;
  runningCost: number;
  /** Dispatch number of this requester's last start; 0 for one with nothing in the scheduler. */
  lastServed: number;
}

const always = (): boolean => true;

/**
 * Bounded, fair rendering: at most `concurrency` renders at once, the rest wait. A freed slot goes to
 * the requester with the least rendering under way (by cost), among equals the one served longest
 * ago (a requester with nothing running or waiting comes first); within one requester the cheapest
 * render goes first. So one user's many heavy renders hold at most the slots nobody else wants, and
 * another user's thumbnail waits for one render to finish, not for all of them. Renders cannot be
 * interrupted, so one more slot is kept for small renders only: while every other slot holds a large
 * one, a thumbnail or an edge tile still starts at once.
 *
 * The queue is bounded overall and per requester; beyond either bound a render is refused with
 * RenderQueueFull (after dropping waiting renders nobody wants any more). A render that throws frees
 * its slot like one that succeeds.
 */
export class RenderScheduler {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly maxQueuedPerRequester: number;
  readonly smallCost: number;
  private active = 0;
  private queued = 0;
  private seq = 0;
  private dispatched = 0;
  private readonly requesters = new Map<string, Requester>();
  /** Moving average of render time, for Retry-After. */
  private meanMs = 200;
  /** Counts since start. */
  readonly stats = { started: 0, rejected: 0, dropped: 0 };

  constructor(opts: RenderSchedulerOptions) {
    this.concurrency = positiveInt(opts.concurrency, 'concurrency');
    this.maxQueued = nonNegativeInt(opts.maxQueued ?? 256, 'maxQueued');
    this.maxQueuedPerRequester = nonNegativeInt(opts.maxQueuedPerRequester ?? 64, 'maxQueuedPerRequester');
    this.smallCost = nonNegativeInt(opts.smallCost ?? 2048 * 2048, 'smallCost');
  }

  /** Renders running now. */
  get running(): number {
    return this.active;
  }

  /** Renders waiting now (including ones nobody wants any more that have not been dropped yet). */
  get waiting(): number {
    return this.queued;
  }

  /**
   * Run `task` when its turn comes. Rejects with RenderQueueFull when the queue is full, and with an
   * AbortError when nobody wants it any more by its turn (it is then never started).
   */
  async run<T>(task: () => Promise<T>, job: RenderJob): Promise<T> {
    const key = job.requester ?? '';
    const cost = Math.max(0, job.cost);
    let r = this.requesters.get(key);
    if (!r) {
      r = { waiting: [], running: 0, runningCost: 0, lastServed: 0 };
      this.requesters.set(key, r);
    }
    const wanted = job.wanted ?? always;
    if (this.queued === 0 && this.hasSlotFor(cost)) {
      if (!wanted()) {
        this.forgetIfIdle(key, r);
        throw abortError();
      }
      this.take(r, cost);
    } else {
      await this.enqueue(key, r, cost, wanted);
    }
    const t0 = performance.now();
    try {
      return await task();
    } finally {
      this.meanMs += (performance.now() - t0 - this.meanMs) * 0.2;
      this.active--;
      r.running--;
      r.runningCost -= cost;
      this.forgetIfIdle(key, r);
      this.dispatch();
    }
  }

  private enqueue(key: string, r: Requester, cost: number, wanted: () => boolean): Promise<void> {
    if (this.queued >= this.maxQueued || r.waiting.length >= this.maxQueuedPerRequester) this.dropUnwanted();
    const mine = r.waiting.length >= this.maxQueuedPerRequester;
    if (this.queued >= this.maxQueued || mine) {
      this.stats.rejected++;
      this.forgetIfIdle(key, r);
      const bound = mine
        ? `${this.maxQueuedPerRequester} renders waiting for one user`
        : `${this.maxQueued} renders waiting`;
      throw new RenderQueueFull(
        `the server is busy rendering (${bound}); try again in a few seconds`,
        this.retryAfterSeconds(),
      );
    }
    return new Promise<void>((start, reject) => {
      const w: Waiting = { cost, seq: ++this.seq, wanted, start, reject };
      let i = r.waiting.length;
      while (i > 0 && r.waiting[i - 1]!.cost > cost) i--;
      r.waiting.splice(i, 0, w);
      this.queued++;
      // Every other slot may be taken while the one for small renders is free.
      if (cost <= this.smallCost) this.dispatch();
    });
  }

  /** A free slot for a render of this cost: one of `concurrency`, or the one kept for small renders. */
  private hasSlotFor(cost: number): boolean {
    return this.active < this.concurrency || (this.active === this.concurrency && cost <= this.smallCost);
  }

  /**
   * Fill free slots: least rendering under way first, then longest since served, then arrival. The
   * slot kept for small renders goes the same way among requesters whose cheapest render is small.
   */
  private dispatch(): void {
    while (this.queued > 0) {
      let best: [string, Requester] | null = null;
      for (const e of this.requesters) {
        const r = e[1];
        const head = r.waiting[0];
        if (!head || !this.hasSlotFor(head.cost)) continue;
        if (!best || before(r, best[1])) best = e;
      }
      if (!best) return;
      const [key, r] = best;
      const w = r.waiting.shift()!;
      this.queued--;
      if (!w.wanted()) {
        this.stats.dropped++;
        this.forgetIfIdle(key, r);
        w.reject(abortError());
        continue;
      }
      this.take(r, w.cost);
      w.start();
    }
  }

  /** Reserve a slot for a render of `r` (synchronously, so no other caller takes it meanwhile). */
  private take(r: Requester, cost: number): void {
    this.active++;
    this.stats.started++;
    r.running++;
    r.runningCost += cost;
    r.lastServed = ++this.dispatched;
  }

  private dropUnwanted(): void {
    for (const [key, r] of this.requesters) {
      const keep = r.waiting.filter((w) => w.wanted());
      if (keep.length === r.waiting.length) continue;
      for (const w of r.waiting) {
        if (keep.includes(w)) continue;
        this.stats.dropped++;
        this.queued--;
        w.reject(abortError());
      }
      r.waiting = keep;
      this.forgetIfIdle(key, r);
    }
  }

  /** A requester with nothing running or waiting is forgotten: next time it comes first in its round. */
  private forgetIfIdle(key: string, r: Requester): void {
    if (r.running === 0 && r.waiting.length === 0) this.requesters.delete(key);
  }

  /** Roughly when a slot frees for a newcomer: the waiting renders spread over the slots. */
  private retryAfterSeconds(): number {
    const s = (this.meanMs / 1000) * (this.queued / this.concurrency + 1);
    return Math.min(60, Math.max(1, Math.ceil(s)));
  }
}

function before(a: Requester, b: Requester): boolean {
  if (a.runningCost !== b.runningCost) return a.runningCost < b.runningCost;
  if (a.lastServed !== b.lastServed) return a.lastServed < b.lastServed;
  return a.waiting[0]!.seq < b.waiting[0]!.seq;
}

function abortError(): DOMException {
  return new DOMException('every client went away', 'AbortError');
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`Expected positive integer for ${name} but received ${v}`);
  return v;
}

function nonNegativeInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0)
    throw new RangeError(`Expected non-negative integer for ${name} but received ${v}`);
  return v;
}
