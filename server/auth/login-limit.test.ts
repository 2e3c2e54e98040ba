import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLoginLimiter, type LoginLimiter } from './login-limit.ts';
import { RedisLoginLimiter, type RedisZset } from './login-limit-redis.ts';
import { type RedisServer, requireRedis, startRedis } from '../../tests/helpers/redis.ts';

const MIN = 60_000;
const limits = { windowMs: 15 * MIN, perAccount: 5, perAddress: 8, accountGrace: 2 };

// The same rules, whether failures are counted in one process's memory or in Redis for every node.
const haveRedis = requireRedis('the Redis limiter');
let redis: RedisServer | null = null;
let client: ReturnType<typeof createClient> | null = null;
beforeAll(async () => {
  if (!haveRedis) return;
  redis = await startRedis();
  client = createClient({ url: redis.url });
  await client.connect();
});
afterAll(async () => {
  await client?.quit().catch(() => {});
  redis?.stop();
});

const kinds: { name: string; make: (now: () => number) => LoginLimiter; skip: boolean }[] = [
  { name: 'MemoryLoginLimiter', make: (now) => new MemoryLoginLimiter(limits, now), skip: false },
  {
    name: 'RedisLoginLimiter',
    // A prefix of its own per limiter: each test starts with nothing counted.
    make: (now) => new RedisLoginLimiter(client as unknown as RedisZset, `t-${randomUUID()}`, limits, now),
    skip: !haveRedis,
  },
];

for (const kind of kinds)
  describe.skipIf(kind.skip)(kind.name, () => {
    function limiter() {
      let t = 1_000_000;
      const l = kind.make(() => t);
      return { l, advance: (ms: number) => (t += ms) };
    }

    it('refuses an account from every address once it reaches its failures, until the oldest leaves the window', async () => {
      const { l, advance } = limiter();
      const reached: boolean[] = [];
      for (let i = 0; i < 5; i++) {
        expect(await l.admit('ada', `10.0.0.${i}`)).toEqual({ allowed: true });
        reached.push((await l.failed('ada', `10.0.0.${i}`)).account);
        advance(MIN);
      }
      // Reported once, by the failure that reached the limit.
      expect(reached).toEqual([false, false, false, false, true]);
      expect(await l.admit('ada', '10.9.9.9')).toEqual({
        allowed: false,
        scope: 'account',
        retryAfterSeconds: 10 * 60,
      });
      expect(await l.admit('ada', null)).toMatchObject({ allowed: false, scope: 'account' });
      expect(await l.admit('bob', '10.0.0.1')).toEqual({ allowed: true });
      advance(10 * MIN - 1);
      expect(await l.admit('ada', '10.9.9.9')).toMatchObject({ allowed: false });
      advance(1);
      expect(await l.admit('ada', '10.9.9.9')).toEqual({ allowed: true });
    });

    it('past an address limit, still admits accounts under their grace; refuses those failing', async () => {
      const { l } = limiter();
      for (let i = 0; i < 8; i++) await l.failed(`user${i % 4}`, '192.0.2.1');
      // user0..3 have 2 failures each (the grace): refused from this address, admitted from others.
      expect(await l.admit('user0', '192.0.2.1')).toMatchObject({ allowed: false, scope: 'address' });
      expect(await l.admit('user0', '192.0.2.2')).toEqual({ allowed: true });
      // A colleague behind the same address with no failures, or fewer than the grace, is admitted.
      expect(await l.admit('carol', '192.0.2.1')).toEqual({ allowed: true });
      await l.failed('carol', '192.0.2.1');
      expect(await l.admit('carol', '192.0.2.1')).toEqual({ allowed: true });
      await l.failed('carol', '192.0.2.1');
      expect(await l.admit('carol', '192.0.2.1')).toMatchObject({ allowed: false, scope: 'address' });
    });

    it('a success forgets the account’s failures and is never counted itself', async () => {
      const { l } = limiter();
      for (let i = 0; i < 4; i++) await l.failed('ada', '10.0.0.1');
      await l.succeeded('ada', '10.0.0.1');
      for (let i = 0; i < 4; i++) await l.failed('ada', `10.0.1.${i}`);
      expect(await l.admit('ada', '10.0.2.1')).toEqual({ allowed: true });
      for (let i = 0; i < 100; i++) await l.succeeded(`u${i}`, '10.0.0.2');
      expect(await l.admit('dave', '10.0.0.2')).toEqual({ allowed: true });
    });

    it('reports an address reaching its limit once', async () => {
      const { l } = limiter();
      const reached: boolean[] = [];
      for (let i = 0; i < 10; i++) reached.push((await l.failed(`n${i}`, '198.51.100.7')).address);
      expect(reached.filter(Boolean)).toHaveLength(1);
      expect(reached[7]).toBe(true);
    });
  });
