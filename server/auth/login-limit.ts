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

/** Keys kept per kind; past it, the stalest go first (names made up by a guesser cost nothing). */
const MAX_KEYS = 100_000;

/** Failure times per key, oldest first, at most `keep` of them. */
class Window {
  private readonly times = new Map<string, number[]>();

  constructor(
    private readonly windowMs: number,
    private readonly keep: number,
  ) {}

  /** Failures of `key` within the window ending at `now`. */
  recent(key: string, now: number): number[] {
    const list = this.times.get(key);
    if (!list) return [];
    const from = now - this.windowMs;
    while (list.length > 0 && list[0]! <= from) list.shift();
    if (list.length === 0) this.times.delete(key);
    return list;
  }

  /** Record a failure; true when it is the one that brings `key` to `limit`. */
  add(key: string, now: number, limit: number): boolean {
    const list = this.recent(key, now);
    const before = list.length;
    list.push(now);
    if (list.length > this.keep) list.shift();
    // Re-inserted, so the Map's order is least recently failed first.
    this.times.delete(key);
    this.times.set(key, list);
    if (this.times.size > MAX_KEYS) this.times.delete(this.times.keys().next().value!);
    return before < limit && list.length >= limit;
  }

  forget(key: string): void {
    this.times.delete(key);
  }

  /** Seconds until fewer than `limit` failures are left in the window. */
  retryAfter(list: number[], limit: number, now: number): number {
    const blocking = list[list.length - limit] ?? now;
    return Math.max(1, Math.ceil((blocking + this.windowMs - now) / 1000));
  }
}

export class MemoryLoginLimiter implements LoginLimiter {
  private readonly accounts: Window;
  private readonly addresses: Window;

  constructor(
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.accounts = new Window(limits.windowMs, limits.perAccount);
    this.addresses = new Window(limits.windowMs, limits.perAddress);
  }

  async admit(account: string, address: string | null): Promise<LoginVerdict> {
    const now = this.now();
    const mine = this.accounts.recent(account, now);
    if (mine.length >= this.limits.perAccount)
      return {
        allowed: false,
        scope: 'account',
        retryAfterSeconds: this.accounts.retryAfter(mine, this.limits.perAccount, now),
      };
    if (address === null) return { allowed: true };
    const theirs = this.addresses.recent(address, now);
    if (theirs.length >= this.limits.perAddress && mine.length >= this.limits.accountGrace)
      return {
        allowed: false,
        scope: 'address',
        // Whichever comes first: the address back under its limit, or the account under its grace.
        retryAfterSeconds: Math.min(
          this.addresses.retryAfter(theirs, this.limits.perAddress, now),
          this.accounts.retryAfter(mine, this.limits.accountGrace, now),
        ),
      };
    return { allowed: true };
  }

  async failed(account: string, address: string | null): Promise<{ account: boolean; address: boolean }> {
    const now = this.now();
    return {
      account: this.accounts.add(account, now, this.limits.perAccount),
      address: address !== null && this.addresses.add(address, now, this.limits.perAddress),
    };
  }

  async succeeded(account: string, _address: string | null): Promise<void> {
    this.accounts.forget(account);
  }
}
