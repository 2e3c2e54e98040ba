import { describe, expect, it } from 'vitest';
import { ByteLru, Flights } from './cache.ts';

const bytes = (n: number): Buffer => Buffer.alloc(n);

describe('ByteLru', () => {
  it('never holds more bytes than its bound, dropping the least recently used first', () => {
    const lru = new ByteLru<Buffer>(1000, (b) => b.length);
    lru.set('a', bytes(400));
    lru.set('b', bytes(400));
    expect(lru.get('a')).toBeDefined(); // a is now the most recent
    lru.set('c', bytes(400));
    expect(lru.bytes).toBe(800);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBeDefined();
    expect(lru.get('c')).toBeDefined();
    for (let i = 0; i < 100; i++) {
      lru.set(`k${i}`, bytes(50 + ((i * 37) % 300)));
      expect(lru.bytes).toBeLessThanOrEqual(1000);
    }
  });

  it('does not keep a value larger than the whole budget', () => {
    const lru = new ByteLru<Buffer>(100, (b) => b.length);
    lru.set('small', bytes(10));
    lru.set('huge', bytes(101));
    expect(lru.get('huge')).toBeUndefined();
    expect(lru.get('small')).toBeDefined();
  });

  it('replacing a key counts its bytes once; deleteWhere drops a prefix', () => {
    const lru = new ByteLru<Buffer>(1000, (b) => b.length);
    lru.set('s1/a', bytes(100));
    lru.set('s1/a', bytes(200));
    lru.set('s2/a', bytes(300));
    expect(lru.bytes).toBe(500);
    lru.deleteWhere((k) => k.startsWith('s1/'));
    expect(lru.bytes).toBe(300);
    expect(lru.size).toBe(1);
  });

  it('a zero budget keeps nothing', () => {
    const lru = new ByteLru<Buffer>(0, (b) => b.length);
    lru.set('a', bytes(1));
    expect(lru.size).toBe(0);
  });
});

describe('Flights', () => {
  it('concurrent calls for one key run the work once and share its result', async () => {
    const flights = new Flights<number>();
    let runs = 0;
    const work = async (): Promise<number> => {
      runs++;
      await new Promise((r) => setTimeout(r, 10));
      return 42;
    };
    const results = await Promise.all(Array.from({ length: 8 }, () => flights.run('k', undefined, work)));
    expect(results).toEqual(Array(8).fill(42));
    expect(runs).toBe(1);
    expect(flights.size).toBe(0);
    await flights.run('k', undefined, work);
    expect(runs).toBe(2);
  });

  it('a caller whose signal is already aborted is refused before anything runs', async () => {
    const flights = new Flights<number>();
    const ac = new AbortController();
    ac.abort();
    let runs = 0;
    await expect(
      flights.run('k', ac.signal, async () => {
        runs++;
        return 1;
      }),
    ).rejects.toThrow();
    expect(runs).toBe(0);
  });

  it('the work is wanted while any caller is still waiting', async () => {
    const flights = new Flights<boolean>();
    const a = new AbortController();
    const b = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const work = async (wanted: () => boolean): Promise<boolean> => {
      await gate;
      return wanted();
    };
    const first = flights.run('k', a.signal, work);
    const second = flights.run('k', b.signal, work);
    a.abort();
    release();
    expect(await first).toBe(true);
    expect(await second).toBe(true);

    const c = new AbortController();
    let release2!: () => void;
    const gate2 = new Promise<void>((r) => (release2 = r));
    const only = flights.run('k2', c.signal, async (wanted) => {
      await gate2;
      return wanted();
    });
    c.abort();
    release2();
    expect(await only).toBe(false);
  });

  it('a failure reaches every waiter and is not remembered', async () => {
    const flights = new Flights<number>();
    const fail = async (): Promise<number> => {
      await Promise.resolve();
      throw new Error('boom');
    };
    const all = await Promise.allSettled([
      flights.run('k', undefined, fail),
      flights.run('k', undefined, fail),
    ]);
    expect(all.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await flights.run('k', undefined, async () => 7)).toBe(7);
  });
});
