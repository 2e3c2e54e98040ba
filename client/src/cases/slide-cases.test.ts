import { describe, expect, it } from 'vitest';
import { SLIDE_CASES_CHUNK, SlideCasesBatcher } from './slide-cases.ts';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('SlideCasesBatcher', () => {
  it('asks once for the slides of one tick, in chunks the server takes, and remembers the answers', async () => {
    const asked: string[][] = [];
    let run: (() => void) | null = null;
    const b = new SlideCasesBatcher(
      (ids) => {
        asked.push(ids);
        return Promise.resolve(
          Object.fromEntries(ids.filter((i) => i.startsWith('c')).map((i) => [i, ['N1']])),
        );
      },
      (r) => (run = r),
    );
    const got = new Map<string, string[]>();
    const ids = Array.from({ length: SLIDE_CASES_CHUNK + 5 }, (_, i) => (i % 2 ? `c${i}` : `s${i}`));
    for (const id of ids) b.want(id, (a) => got.set(id, a));
    expect(asked).toHaveLength(0);
    run!();
    await tick();
    expect(asked.map((a) => a.length)).toEqual([SLIDE_CASES_CHUNK, 5]);
    expect(got.get('c1')).toEqual(['N1']);
    expect(got.get('s0')).toEqual([]);
    // Known now: answered at once, without asking again.
    let again: string[] | null = null;
    b.want('c1', (a) => (again = a));
    expect(again).toEqual(['N1']);
    expect(asked).toHaveLength(2);
  });

  it('asks again once an answer is older than its time to live; a listener that left is not called', async () => {
    let t = 0;
    const asked: string[][] = [];
    const b = new SlideCasesBatcher(
      (ids) => {
        asked.push(ids);
        return Promise.resolve({});
      },
      (r) => r(),
      1000,
      () => t,
    );
    b.want('a', () => {});
    await tick();
    t = 1500;
    let called = false;
    const stop = b.want('a', () => (called = true));
    stop();
    await tick();
    expect(asked).toHaveLength(2);
    expect(called).toBe(false);
  });
});
