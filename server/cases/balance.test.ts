import { describe, expect, it } from 'vitest';
import { type BCase, type BPathologist, balance, eligible } from './balance.ts';
import { prng as rng } from '../../scripts/prng.ts';

const P = (id: string, siteId: string, subs: string[], capacity: number, onLeave = false): BPathologist => ({
  id,
  name: id,
  siteId,
  subspecialties: subs,
  capacity,
  onLeave,
});
let n = 0;
const C = (assignedTo: string | null, sub: string, o: Partial<BCase> = {}): BCase => ({
  id: `c${++n}`,
  accession: `A${n}`,
  siteId: 'north',
  subspecialty: sub,
  points: 1,
  urgent: false,
  daysToBreach: 5,
  assignedTo,
  ...o,
});

function loads(
  ps: BPathologist[],
  cs: BCase[],
  moves: { caseId: string; to: string }[],
): Map<string, number> {
  const at = new Map(cs.map((c) => [c.id, c.assignedTo]));
  for (const m of moves) at.set(m.caseId, m.to);
  const out = new Map(ps.map((p) => [p.id, 0]));
  for (const c of cs) {
    const a = at.get(c.id);
    if (a) out.set(a, out.get(a)! + c.points);
  }
  return out;
}

describe('balance: pinned cases (a turned-down move) stay where they are', () => {
  it('another of the holder’s cases moves instead, and a pinned case of someone on leave stays', () => {
    const ps = [P('a', 'north', ['gi'], 2), P('b', 'north', ['gi'], 5), P('off', 'north', ['gi'], 5, true)];
    const cs = [C('a', 'gi', { urgent: true }), C('a', 'gi'), C('a', 'gi'), C('off', 'gi'), C(null, 'gi')];
    const free = balance(ps, cs);
    const first = free.moves.find((m) => m.from === 'a')!;
    const pinned = new Set([first.caseId, cs[3]!.id, cs[4]!.id]);
    const r = balance(ps, cs, { pinned });
    expect(r.moves.map((m) => m.caseId)).not.toContain(first.caseId);
    expect(r.moves.filter((m) => m.from === 'a')).toHaveLength(1);
    // Neither the on-leave holder's pinned case nor the pinned unassigned one is placed.
    expect(r.moves.map((m) => m.caseId)).not.toContain(cs[3]!.id);
    expect(r.moves.map((m) => m.caseId)).not.toContain(cs[4]!.id);
  });
  it('a pinned case is never passed on to make room', () => {
    // b is full with one pinned case; the only chain for x runs through passing b's case to c.
    const ps = [P('b', 'north', ['gi', 'skin'], 1), P('c', 'north', ['gi'], 1), P('a', 'north', ['skin'], 0)];
    const held = C('b', 'gi');
    const x = C('a', 'skin');
    expect(balance(ps, [held, x]).moves.map((m) => [m.caseId, m.to])).toEqual([
      [held.id, 'c'],
      [x.id, 'b'],
    ]);
    const r = balance(ps, [held, x], { pinned: new Set([held.id]) });
    expect(r.moves).toEqual([]);
    expect(r.unplaced).toEqual([x.id]);
  });
});

describe('balance: hand-checked rules', () => {
  it('capacity: an over-capacity pathologist sheds exactly the excess, to someone with room', () => {
    const ps = [P('a', 'north', ['breast'], 2), P('b', 'north', ['breast'], 5)];
    const cs = [C('a', 'breast'), C('a', 'breast'), C('a', 'breast'), C('a', 'breast')];
    const r = balance(ps, cs);
    expect(r.moves).toHaveLength(2);
    expect(r.moves.every((m) => m.from === 'a' && m.to === 'b' && m.reason === 'over capacity')).toBe(true);
    expect(r.stillOver).toEqual([]);
  });

  it('subspecialty: never to a pathologist without it; general cases to anyone', () => {
    const ps = [P('a', 'north', ['gi'], 1), P('b', 'north', ['skin'], 10), P('c', 'north', ['gi'], 1)];
    const cs = [C('a', 'gi'), C('a', 'gi'), C('a', 'general')];
    const r = balance(ps, cs);
    const to = new Map(r.moves.map((m) => [m.caseId, m.to]));
    expect(to.get(cs[2]!.id) ?? 'a').not.toBe('c'); // c is full after taking a gi case
    for (const m of r.moves)
      expect(
        eligible(
          ps.find((p) => p.id === m.to)!,
          cs.find((c) => c.id === m.caseId)!,
        ),
      ).toBe(true);
    expect(loads(ps, cs, r.moves).get('b')).toBe(1); // the general case
    expect(r.stillOver).toEqual([]);
  });

  it('leave: everything of a pathologist on leave moves, nothing goes to them', () => {
    const ps = [
      P('a', 'north', ['breast'], 10, true),
      P('b', 'north', ['breast'], 10),
      P('c', 'north', ['breast'], 10, true),
    ];
    const cs = [C('a', 'breast'), C('a', 'breast'), C(null, 'breast')];
    const r = balance(ps, cs);
    expect(r.moves.map((m) => m.to)).toEqual(['b', 'b', 'b']);
    expect(r.moves.filter((m) => m.reason === 'on leave')).toHaveLength(2);
    expect(r.moves.filter((m) => m.reason === 'unassigned')).toHaveLength(1);
  });

  it('urgency first: when room is short, urgent and near-breach cases get it, routine work waits', () => {
    const ps = [P('a', 'north', ['gi'], 0, true), P('b', 'north', ['gi'], 2)];
    const routine = C('a', 'gi', { daysToBreach: 9 });
    const late = C('a', 'gi', { daysToBreach: -1 });
    const urgent = C('a', 'gi', { urgent: true, daysToBreach: 3 });
    const r = balance(ps, [routine, late, urgent]);
    expect(new Set(r.moves.map((m) => m.caseId))).toEqual(new Set([urgent.id, late.id]));
    expect(r.unplaced).toEqual([routine.id]);
    expect(r.stillOver.map((s) => s.id)).toEqual(['a']);
  });

  it('cross-site: a receiver at the case’s own site is preferred, even with less room', () => {
    const ps = [
      P('a', 'north', ['skin'], 1),
      P('near', 'north', ['skin'], 2),
      P('far', 'south', ['skin'], 50),
    ];
    const cs = [C('a', 'skin'), C('a', 'skin')];
    const r = balance(ps, cs);
    expect(r.moves).toEqual([
      { caseId: cs[1]!.id, from: 'a', to: 'near', crossSite: false, reason: 'over capacity' },
    ]);
    // When the own site is full, the move crosses sites and says so.
    const r2 = balance([P('a', 'north', ['skin'], 1), P('far', 'south', ['skin'], 50)], cs);
    expect(r2.moves[0]).toMatchObject({ to: 'far', crossSite: true });
  });

  it('makes room: a chain move frees the only pathologist who can take a case', () => {
    // x (neuro+gi) is full with a gi case; y (gi) has room; a neuro case needs x.
    const ps = [
      P('x', 'north', ['neuro', 'gi'], 1),
      P('y', 'north', ['gi'], 1),
      P('z', 'north', ['neuro'], 0, true),
    ];
    const gi = C('x', 'gi');
    const neuro = C('z', 'neuro');
    const r = balance(ps, [gi, neuro]);
    expect(new Map(r.moves.map((m) => [m.caseId, m.to]))).toEqual(
      new Map([
        [gi.id, 'y'],
        [neuro.id, 'x'],
      ]),
    );
    expect(r.moves.find((m) => m.caseId === gi.id)?.reason).toBe('makes room');
    expect(r.stillOver).toEqual([]);
  });
});

/** Exact feasibility for unit points: maximum flow cases → eligible pathologists → capacities. */
function feasible(ps: BPathologist[], cs: BCase[]): boolean {
  const cap = new Map(ps.map((p) => [p.id, Math.floor(p.capacity)]));
  const match = new Map<string, string>(); // case → pathologist
  const held = new Map(ps.map((p) => [p.id, [] as string[]]));
  const tryPlace = (c: BCase, seen: Set<string>): boolean => {
    for (const p of ps) {
      if (!eligible(p, c) || seen.has(p.id)) continue;
      seen.add(p.id);
      if (held.get(p.id)!.length < cap.get(p.id)!) {
        held.get(p.id)!.push(c.id);
        match.set(c.id, p.id);
        return true;
      }
      for (const other of held.get(p.id)!) {
        const oc = cs.find((x) => x.id === other)!;
        if (tryPlace(oc, seen)) {
          held.set(
            p.id,
            held.get(p.id)!.filter((x) => x !== other),
          );
          held.get(p.id)!.push(c.id);
          match.set(c.id, p.id);
          return true;
        }
      }
    }
    return false;
  };
  return cs.every((c) => tryPlace(c, new Set()));
}

describe('balance: property test on random networks', () => {
  it('never over capacity when a feasible assignment exists; never a wrong subspecialty; never to someone on leave', () => {
    const subs = ['breast', 'gi', 'skin', 'neuro', 'general'];
    let feasibleNetworks = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
      const ps = Array.from({ length: 2 + Math.floor(r() * 8) }, (_, i) =>
        P(
          `p${i}`,
          pick(['north', 'south', 'east']),
          subs.slice(0, 4).filter(() => r() < 0.45),
          Math.floor(r() * 6),
          r() < 0.15,
        ),
      );
      const cs = Array.from({ length: Math.floor(r() * 25) }, () =>
        C(r() < 0.8 ? pick(ps).id : null, pick(subs), {
          urgent: r() < 0.2,
          daysToBreach: Math.floor(r() * 10) - 2,
          siteId: pick(['north', 'south', 'east']),
        }),
      );
      const out = balance(ps, cs);
      for (const m of out.moves) {
        const p = ps.find((x) => x.id === m.to)!;
        const c = cs.find((x) => x.id === m.caseId)!;
        expect(eligible(p, c), `seed ${seed}: ${c.subspecialty} to ${p.id}`).toBe(true);
      }
      const after = loads(ps, cs, out.moves);
      // A receiver never ends over capacity because of a move.
      for (const m of out.moves) {
        const p = ps.find((x) => x.id === m.to)!;
        expect(after.get(p.id)!, `seed ${seed}: ${p.id}`).toBeLessThanOrEqual(p.capacity);
      }
      if (feasible(ps, cs)) {
        feasibleNetworks++;
        expect(out.stillOver, `seed ${seed}`).toEqual([]);
        expect(out.unplaced, `seed ${seed}`).toEqual([]);
      }
    }
    // The generator makes enough feasible networks for the property to mean something.
    expect(feasibleNetworks).toBeGreaterThan(50);
  });
});
