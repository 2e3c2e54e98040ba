import { describe, expect, it } from 'vitest';
import { RenderQueueFull, RenderScheduler } from './scheduler.ts';

/** A render that ends when the test says so, recording when it started. */
function gated(log: string[], name: string) {
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    task: async () => {
      log.push(name);
      await done;
      return name;
    },
    finish,
    fail,
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Queue renders that finish at once, each logging its name when it starts. */
function quick(s: RenderScheduler, log: string[], jobs: [name: string, requester: string, cost: number][]) {
  return jobs.map(([name, requester, cost]) =>
    s.run(
      async () => {
        log.push(name);
        await tick();
        return name;
      },
      { requester, cost },
    ),
  );
}

describe('RenderScheduler', () => {
  it('runs at most `concurrency` renders at once', async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 3 });
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        s.run(
          async () => {
            active++;
            peak = Math.max(peak, active);
            await new Promise((r) => setTimeout(r, 2));
            active--;
          },
          { requester: `u${i % 4}`, cost: i },
        ),
      ),
    );
    expect(peak).toBe(3);
    expect([s.running, s.waiting]).toEqual([0, 0]);
  });

  it("one requester's renders go smallest first (arrival order among equals)", async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 1 });
    const log: string[] = [];
    const blocker = gated(log, 'blocker');
    const first = s.run(blocker.task, { requester: 'a', cost: 1 });
    const rest = quick(s, log, [
      ['50', 'a', 50],
      ['10a', 'a', 10],
      ['30', 'a', 30],
      ['10b', 'a', 10],
    ]);
    expect(s.waiting).toBe(4);
    blocker.finish();
    await Promise.all([first, ...rest]);
    expect(log).toEqual(['blocker', '10a', '10b', '30', '50']);
  });

  it('requesters take turns; one with nothing under way comes first', async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 1 });
    const log: string[] = [];
    const blocker = gated(log, 'a0');
    const first = s.run(blocker.task, { requester: 'a', cost: 100 });
    const rest = quick(s, log, [
      ['a1', 'a', 100],
      ['a2', 'a', 100],
      ['a3', 'a', 100],
      ['b1', 'b', 100],
      ['b2', 'b', 100],
      ['c1', 'c', 100],
    ]);
    blocker.finish();
    await Promise.all([first, ...rest]);
    expect(log).toEqual(['a0', 'b1', 'c1', 'a1', 'b2', 'a2', 'a3']);
  });

  it("another user's small render waits for one heavy render, not for all sixteen", async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 2 });
    const log: string[] = [];
    const heavy = Array.from({ length: 16 }, (_, i) => gated(log, `heavy${i}`));
    const heavyDone = heavy.map((h) => s.run(h.task, { requester: 'a', cost: 16_000_000 }));
    await tick();
    expect([s.running, s.waiting]).toEqual([2, 14]);
    const thumb = s.run(
      async () => {
        log.push('thumb');
        return 'thumb';
      },
      { requester: 'b', cost: 100_000 },
    );
    heavy[0]!.finish();
    expect(await thumb).toBe('thumb');
    // thumb's slot then goes back to a's next heavy render.
    expect(log.slice(0, 3)).toEqual(['heavy0', 'heavy1', 'thumb']);
    for (const h of heavy) h.finish();
    await Promise.all(heavyDone);
  });

  it('with heavy renders in every slot, a small render starts at once in the slot kept for it', async () => {
    const s = new RenderScheduler({ concurrency: 2 });
    const log: string[] = [];
    const heavy = Array.from({ length: 16 }, (_, i) => gated(log, `heavy${i}`));
    const heavyDone = heavy.map((h) => s.run(h.task, { requester: 'a', cost: 16_000_000 }));
    await tick();
    const small = [gated(log, 'thumb1'), gated(log, 'thumb2')];
    const smallDone = small.map((t) => s.run(t.task, { requester: 'b', cost: 2048 * 2048 }));
    await tick();
    // One extra slot, and only one: the second small render waits for it.
    expect(log).toEqual(['heavy0', 'heavy1', 'thumb1']);
    expect([s.running, s.waiting]).toEqual([3, 15]);
    small[0]!.finish();
    await smallDone[0];
    await tick();
    expect(log.at(-1)).toBe('thumb2');
    // Free again, the kept slot is not given to any of the 14 large renders waiting.
    small[1]!.finish();
    await smallDone[1];
    await tick();
    expect(s.running).toBe(2);
    expect(s.stats.started).toBe(4);
    for (const h of heavy) h.finish();
    await Promise.all(heavyDone);
  });

  it('a render just over the small cost waits like a large one', async () => {
    const s = new RenderScheduler({ concurrency: 1, smallCost: 1000 });
    const log: string[] = [];
    const big = gated(log, 'big');
    const first = s.run(big.task, { requester: 'a', cost: 50_000 });
    const over = s.run(async () => log.push('over'), { requester: 'b', cost: 1001 });
    const under = s.run(async () => log.push('under'), { requester: 'c', cost: 1000 });
    await under;
    expect(log).toEqual(['big', 'under']);
    big.finish();
    await Promise.all([first, over]);
    expect(log).toEqual(['big', 'under', 'over']);
  });

  it('a freed slot goes to the requester with the least rendering under way', async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 2 });
    const log: string[] = [];
    const big = gated(log, 'a-big');
    const small = gated(log, 'b-small');
    const running = [
      s.run(big.task, { requester: 'a', cost: 1000 }),
      s.run(small.task, { requester: 'b', cost: 10 }),
    ];
    const queued = quick(s, log, [
      ['a-next', 'a', 5],
      ['b-next', 'b', 500],
    ]);
    small.finish();
    await queued[1];
    // b had 10 under way against a's 1000: b's next starts although a's is cheaper and older.
    expect(log.slice(0, 3)).toEqual(['a-big', 'b-small', 'b-next']);
    big.finish();
    await Promise.all([...running, ...queued]);
    expect(log).toEqual(['a-big', 'b-small', 'b-next', 'a-next']);
  });

  it('refuses beyond the queue bound with SERVER_BUSY and a Retry-After estimate', async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 1, maxQueued: 3 });
    const log: string[] = [];
    const blocker = gated(log, 'blocker');
    const all = [
      s.run(blocker.task, { requester: 'a', cost: 1 }),
      ...quick(s, log, [
        ['1', 'a', 1],
        ['2', 'b', 1],
        ['3', 'c', 1],
      ]),
    ];
    const refused = s.run(async () => 'never', { requester: 'd', cost: 1 });
    await expect(refused).rejects.toBeInstanceOf(RenderQueueFull);
    await expect(refused).rejects.toMatchObject({
      code: 'SERVER_BUSY',
      message: expect.stringMatching(/busy rendering \(3 renders waiting\)/),
    });
    const e = (await refused.catch((x: unknown) => x)) as RenderQueueFull;
    expect(e.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(e.retryAfterSeconds).toBeLessThanOrEqual(60);
    expect(s.stats.rejected).toBe(1);
    blocker.finish();
    await Promise.all(all);
    expect(log).not.toContain('never');
  });

  it("one requester's share of the queue is bounded; others still get in", async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 1, maxQueued: 10, maxQueuedPerRequester: 2 });
    const log: string[] = [];
    const blocker = gated(log, 'blocker');
    const ok = [
      s.run(blocker.task, { requester: 'a', cost: 1 }),
      ...quick(s, log, [
        ['a1', 'a', 1],
        ['a2', 'a', 1],
      ]),
    ];
    await expect(s.run(async () => 'a3', { requester: 'a', cost: 1 })).rejects.toMatchObject({
      code: 'SERVER_BUSY',
      message: expect.stringMatching(/2 renders waiting for one user/),
    });
    ok.push(...quick(s, log, [['b1', 'b', 1]]));
    blocker.finish();
    await Promise.all(ok);
    expect(log).toEqual(['blocker', 'b1', 'a1', 'a2']);
  });

  it('renders nobody wants are dropped to make room, and never started', async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 1, maxQueued: 1 });
    const log: string[] = [];
    const blocker = gated(log, 'blocker');
    const first = s.run(blocker.task, { requester: 'a', cost: 1 });
    let wanted = true;
    const abandoned = s.run(async () => log.push('abandoned'), {
      requester: 'a',
      cost: 1,
      wanted: () => wanted,
    });
    wanted = false;
    const next = quick(s, log, [['b1', 'b', 1]]);
    await expect(abandoned).rejects.toMatchObject({ name: 'AbortError' });
    blocker.finish();
    await Promise.all([first, ...next]);
    expect(log).toEqual(['blocker', 'b1']);
    expect(s.stats.dropped).toBe(1);
  });

  it('a failing render frees its slot for the next one', async () => {
    const s = new RenderScheduler({ smallCost: 0, concurrency: 1 });
    const log: string[] = [];
    const failing = gated(log, 'failing');
    const failed = s.run(failing.task, { requester: 'a', cost: 1 });
    const next = quick(s, log, [['next', 'b', 1]]);
    failing.fail(new Error('corrupt tile'));
    await expect(failed).rejects.toThrow('corrupt tile');
    expect(await next[0]).toBe('next');
    expect([s.running, s.waiting]).toEqual([0, 0]);
    // Synchronous throws too.
    await expect(
      s.run(
        () => {
          throw new Error('bad plan');
        },
        { cost: 1 },
      ),
    ).rejects.toThrow('bad plan');
    expect(s.running).toBe(0);
  });

  it('refuses nonsense bounds', () => {
    expect(() => new RenderScheduler({ smallCost: 0, concurrency: 0 })).toThrow(
      /positive integer for concurrency/,
    );
    expect(() => new RenderScheduler({ smallCost: 0, concurrency: 1, maxQueued: -1 })).toThrow(/maxQueued/);
  });
});
