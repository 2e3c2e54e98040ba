/**
 * Least-recently-used map bounded by the bytes of its values. A value larger than the whole budget is
 * not kept (it would evict everything for one entry).
 */
export class ByteLru<V> {
  private readonly map = new Map<string, { value: V; bytes: number }>();
  private used = 0;

  constructor(
    readonly maxBytes: number,
    private readonly sizeOf: (v: V) => number,
  ) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: V): void {
    this.delete(key);
    const bytes = this.sizeOf(value);
    if (bytes > this.maxBytes) return;
    this.map.set(key, { value, bytes });
    this.used += bytes;
    for (const [k, e] of this.map) {
      if (this.used <= this.maxBytes) break;
      this.map.delete(k);
      this.used -= e.bytes;
    }
  }

  delete(key: string): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    this.map.delete(key);
    this.used -= e.bytes;
    return true;
  }

  /** Drop every key for which `match` is true. */
  deleteWhere(match: (key: string) => boolean): void {
    for (const [k, e] of this.map) {
      if (match(k)) {
        this.map.delete(k);
        this.used -= e.bytes;
      }
    }
  }

  clear(): void {
    this.map.clear();
    this.used = 0;
  }
}

/**
 * Runs each key's work once while it is in flight: later callers for the same key share the first
 * one's promise. The work is told whether anyone still wants the result, so a render whose every
 * client has gone away is never started.
 */
export class Flights<V> {
  private readonly running = new Map<string, { promise: Promise<V>; signals: (AbortSignal | undefined)[] }>();

  get size(): number {
    return this.running.size;
  }

  async run(
    key: string,
    signal: AbortSignal | undefined,
    work: (wanted: () => boolean) => Promise<V>,
  ): Promise<V> {
    signal?.throwIfAborted();
    const joined = this.running.get(key);
    if (joined) {
      joined.signals.push(signal);
      return joined.promise;
    }
    const signals = [signal];
    const wanted = (): boolean => signals.some((s) => !s?.aborted);
    const promise = (async () => {
      try {
        return await work(wanted);
      } finally {
        this.running.delete(key);
      }
    })();
    this.running.set(key, { promise, signals });
    return promise;
  }
}
