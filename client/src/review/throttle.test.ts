import { describe, expect, it } from 'vitest';
import { throttle } from './throttle.ts';

function fakeClock() {
  let t = 0;
  let timers: { at: number; f: () => void; id: number }[] = [];
  let next = 1;
  return {
    now: () => t,
    setTimeout: (f: () => void, ms: number) => {
      const id = next++;
      timers.push({ at: t + ms, f, id });
      return id;
    },
    clearTimeout: (h: unknown) => {
      timers = timers.filter((x) => x.id !== h);
    },
    advance(ms: number) {
      t += ms;
      const due = timers.filter((x) => x.at <= t);
      timers = timers.filter((x) => x.at > t);
      for (const d of due) d.f();
    },
  };
}

describe('throttle', () => {
  it('sends the first call at once and the latest of a burst at the end of the interval', () => {
    const clock = fakeClock();
    const sent: number[] = [];
    const t = throttle((v: number) => sent.push(v), 50, clock);
    t(1);
    t(2);
    t(3);
    expect(sent).toEqual([1]);
    clock.advance(49);
    expect(sent).toEqual([1]);
    clock.advance(1);
    expect(sent).toEqual([1, 3]);
    clock.advance(100);
    t(4);
    expect(sent).toEqual([1, 3, 4]);
  });
  it('keeps to about 20 calls a second under a steady stream', () => {
    const clock = fakeClock();
    let n = 0;
    const t = throttle(() => n++, 50, clock);
    for (let i = 0; i < 1000; i++) {
      t();
      clock.advance(1);
    }
    expect(n).toBeGreaterThanOrEqual(19);
    expect(n).toBeLessThanOrEqual(21);
  });
  it('flush sends the pending call, cancel drops it', () => {
    const clock = fakeClock();
    const sent: string[] = [];
    const t = throttle((v: string) => sent.push(v), 50, clock);
    t('a');
    t('b');
    t.flush();
    expect(sent).toEqual(['a', 'b']);
    clock.advance(60);
    t('c');
    t('d');
    t.cancel();
    clock.advance(100);
    expect(sent).toEqual(['a', 'b', 'c']);
  });
});
