/**
 * Sign-in limiting, by account and by address. Failures alone count (a correct password never
 * does), in a sliding window:
 *
 * - an account with `perAccount` failures is refused from every address until the oldest of them
 *   leaves the window: guessing one password from many addresses gets nowhere;
 * - an address with `perAddress` failures (a guesser, or a hospital's NAT with hundreds of users
 *   behind it) still has each password checked for accounts with fewer than `accountGrace` recent
 *   failures, so a colleague who types their own password right is never held off by the others;
 *   accounts already failing from there are refused. A guesser cycling accounts from one address
 *   thus gets `accountGrace` tries an account, not `perAccount`.
 *
 * The interface is async so that a shared store (Redis) can stand behind it when several
 * processes serve sign-ins; MemoryLoginLimiter is one process's view.
 */

export type LoginVerdict =
  { allowed: true } | { allowed: false; scope: 'account' | 'address'; retryAfterSeconds: number };

export interface LoginLimiter {
  /** Before the password is checked: may this attempt be judged at all? */
  admit(account: string, address: string | null): Promise<LoginVerdict>;
  /** A wrong password or an unknown account. Says which limits this failure has just reached. */
  failed(account: string, address: string | null): Promise<{ account: boolean; address: boolean }>;
  /** A correct password: the account's own failures are forgotten. */
  succeeded(account: string, address: string | null): Promise<void>;
}

export interface LoginLimits {
  windowMs: number;
  perAccount: number;
  perAddress: number;
  /** Failures an account may have and still be checked from an address over its limit. */
  accountGrace: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  windowMs: 15 * 60_000,
  perAccount: 10,
  perAddress: 30,
  accountGrace: 3,
};

/**
 * Failure times per key (an account, an address) within a sliding window, oldest first, at most a
 * limit's worth of them: in this process's memory, or in Redis for every process at once.
 */
export interface FailureLog {
  /** Failures of `key` within the window ending at `now`, oldest first. */
  recent(key: string, now: number): Promise<number[]>;
  /** Record a failure; returns how many were in the window before it and after it. */
  add(key: string, now: number): Promise<{ before: number; after: number }>;
  forget(key: string): Promise<void>;
}

/** Keys kept per kind; past it, the stalest go first (names made up by a guesser cost nothing). */
const MAX_KEYS = 100_000;

/** One process's failures, oldest first, at most `keep` per key. */
export class MemoryFailureLog implements FailureLog {
  private readonly times = new Map<string, number[]>();

  constructor(
    private readonly windowMs: number,
    private readonly keep: number,
  ) {}

  async recent(key: string, now: number): Promise<number[]> {
    return [...this.prune(key, now)];
  }

  private prune(key: string, now: number): number[] {
    const list = this.times.get(key);
    if (!list) return [];
    const from = now - this.windowMs;
    while (list.length > 0 && list[0]! <= from) list.shift();
    if (list.length === 0) this.times.delete(key);
    return list;
  }

  async add(key: string, now: number): Promise<{ before: number; after: number }> {
    const list = this.prune(key, now);
    const before = list.length;
    list.push(now);
    if (list.length > this.keep) list.shift();
    // Re-inserted, so the Map's order is least recently failed first.
    this.times.delete(key);
    this.times.set(key, list);
    if (this.times.size > MAX_KEYS) this.times.delete(this.times.keys().next().value!);
    return { before, after: list.length };
  }

  async forget(key: string): Promise<void> {
    this.times.delete(key);
  }
}

/**
 * Sign-in limits over failure logs: `MemoryLoginLimiter` for one process, `RedisLoginLimiter`
 * (server/auth/login-limit-redis.ts) for every node of a deployment at once.
 */
export class WindowLoginLimiter implements LoginLimiter {
  constructor(
    private readonly limits: LoginLimits,
    private readonly accounts: FailureLog,
    private readonly addresses: FailureLog,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until fewer than `limit` failures are left in the window. */
  private retryAfter(list: number[], limit: number, now: number): number {
    const blocking = list[list.length - limit] ?? now;
    return Math.max(1, Math.ceil((blocking + this.limits.windowMs - now) / 1000));
  }

  async admit(account: string, address: string | null): Promise<LoginVerdict> {
    const now = this.now();
    const mine = await this.accounts.recent(account, now);
    if (mine.length >= this.limits.perAccount)
      return {
        allowed: false,
        scope: 'account',
        retryAfterSeconds: this.retryAfter(mine, this.limits.perAccount, now),
      };
    if (address === null) return { allowed: true };
    const theirs = await this.addresses.recent(address, now);
    if (theirs.length >= this.limits.perAddress && mine.length >= this.limits.accountGrace)
      return {
        allowed: false,
        scope: 'address',
        // Whichever comes first: the address back under its limit, or the account under its grace.
        retryAfterSeconds: Math.min(
          this.retryAfter(theirs, this.limits.perAddress, now),
          this.retryAfter(mine, this.limits.accountGrace, now),
        ),
      };
    return { allowed: true };
  }

  async failed(account: string, address: string | null): Promise<{ account: boolean; address: boolean }> {
    const now = this.now();
    const reached = (n: { before: number; after: number }, limit: number): boolean =>
      n.before < limit && n.after >= limit;
    const a = await this.accounts.add(account, now);
    const b = address === null ? null : await this.addresses.add(address, now);
    return {
      account: reached(a, this.limits.perAccount),
      address: b !== null && reached(b, this.limits.perAddress),
    };
  }

  async succeeded(account: string, _address: string | null): Promise<void> {
    await this.accounts.forget(account);
  }
}

/** One process's view: enough for one server process. */
export class MemoryLoginLimiter extends WindowLoginLimiter {
  constructor(limits: LoginLimits = DEFAULT_LOGIN_LIMITS, now: () => number = Date.now) {
    super(
      limits,
      new MemoryFailureLog(limits.windowMs, limits.perAccount),
      new MemoryFailureLog(limits.windowMs, limits.perAddress),
      now,
    );
  }
}
