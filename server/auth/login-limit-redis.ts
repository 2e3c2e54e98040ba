import { randomUUID } from 'node:crypto';
import {
  DEFAULT_LOGIN_LIMITS,
  WindowLoginLimiter,
  type FailureLog,
  type LoginLimits,
} from './login-limit.ts';

/** The part of a node-redis client used here. */
export interface RedisZset {
  zRangeWithScores(key: string, start: number, stop: number): Promise<{ value: string; score: number }[]>;
  multi(): RedisMulti;
  del(key: string): Promise<unknown>;
}
interface RedisMulti {
  zRemRangeByScore(key: string, min: number | string, max: number | string): RedisMulti;
  zCard(key: string): RedisMulti;
  zAdd(key: string, m: { score: number; value: string }): RedisMulti;
  zRemRangeByRank(key: string, start: number, stop: number): RedisMulti;
  pExpire(key: string, ms: number): RedisMulti;
  exec(): Promise<unknown[]>;
}

/**
 * Failures in Redis, one sorted set per key (scored by time), shared by every node: ten wrong
 * passwords lock an account whichever nodes they reached. Keys expire with the window.
 */
export class RedisFailureLog implements FailureLog {
  constructor(
    private readonly redis: RedisZset,
    /** Key prefix, e.g. `tessera:login:account:`. */
    private readonly prefix: string,
    private readonly windowMs: number,
    private readonly keep: number,
  ) {}

  private key(k: string): string {
    return this.prefix + k;
  }

  async recent(key: string, now: number): Promise<number[]> {
    const k = this.key(key);
    const rows = await this.redis.zRangeWithScores(k, 0, -1);
    return rows.map((r) => r.score).filter((t) => t > now - this.windowMs);
  }

  async add(key: string, now: number): Promise<{ before: number; after: number }> {
    const k = this.key(key);
    const out = await this.redis
      .multi()
      .zRemRangeByScore(k, '-inf', now - this.windowMs)
      .zCard(k)
      .zAdd(k, { score: now, value: `${now}:${randomUUID()}` })
      // Only the newest `keep` matter (the limit's worth).
      .zRemRangeByRank(k, 0, -(this.keep + 1))
      .zCard(k)
      .pExpire(k, this.windowMs)
      .exec();
    return { before: Number(out[1]), after: Number(out[4]) };
  }

  async forget(key: string): Promise<void> {
    await this.redis.del(this.key(key));
  }
}

/** Sign-in limits shared by every node through Redis (`TESSERA_REDIS_URL`). */
export class RedisLoginLimiter extends WindowLoginLimiter {
  constructor(
    redis: RedisZset,
    prefix: string,
    limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    now: () => number = Date.now,
  ) {
    super(
      limits,
      new RedisFailureLog(redis, `${prefix}:login:account:`, limits.windowMs, limits.perAccount),
      new RedisFailureLog(redis, `${prefix}:login:address:`, limits.windowMs, limits.perAddress),
      now,
    );
  }
}
