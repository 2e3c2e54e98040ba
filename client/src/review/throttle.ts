/**
 * At most one call per `intervalMs`: the first goes out at once, later ones within the interval are
 * folded into one trailing call with the latest arguments (so the last position is never lost).
 * The clock and timer are injectable for tests.
 */
export interface Throttled<A extends unknown[]> {
  (...args: A): void;
  /** Send a pending trailing call now. */
  flush(): void;
  cancel(): void;
}

export function throttle<A extends unknown[]>(
  fn: (...args: A) => void,
  intervalMs: number,
  clock: {
    now: () => number;
    setTimeout: (f: () => void, ms: number) => unknown;
    clearTimeout: (h: unknown) => void;
  } = {
    now: () => Date.now(),
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  },
): Throttled<A> {
  let last = -Infinity;
  let pending: A | null = null;
  let timer: unknown = null;

  const fire = (): void => {
    timer = null;
    if (!pending) return;
    const args = pending;
    pending = null;
    last = clock.now();
    fn(...args);
  };

  const t = ((...args: A) => {
    const now = clock.now();
    if (now - last >= intervalMs && timer === null) {
      last = now;
      pending = null;
      fn(...args);
      return;
    }
    pending = args;
    if (timer === null) timer = clock.setTimeout(fire, Math.max(0, intervalMs - (now - last)));
  }) as Throttled<A>;
  t.flush = () => {
    if (timer !== null) clock.clearTimeout(timer);
    fire();
  };
  t.cancel = () => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
    pending = null;
  };
  return t;
}
