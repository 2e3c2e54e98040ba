/**
 * Workload balancing: propose moves of open cases that bring every pathologist within capacity.
 *
 * Rules, in order of strength:
 * 1. A case only goes to a pathologist of its subspecialty ("general" cases to anyone), never to one
 *    on leave, never above the receiver's capacity.
 * 2. Everything assigned to someone on leave moves; then, from each pathologist over capacity, cases
 *    move until they are within it. Unassigned cases are placed where capacity remains.
 * 3. Urgency first: urgent cases, then the nearest to breaching their target, are placed first, so
 *    when capacity runs out it is routine work that waits.
 * 4. Fewest moves across sites: a receiver at the case's own site is preferred; among those, the one
 *    with most room left.
 *
 * Method: greedy placement in that order; when no eligible pathologist has room for a case, an
 * augmenting path is searched (breadth first over pathologists: A takes the case if A passes one of
 * its cases to B, who has room, or passes one on in turn). With equal points per case this is the
 * augmenting-path method of maximum flow, so a feasible assignment is always found when one exists;
 * with unequal points (a bin-packing problem) it is a heuristic that keeps every rule above.
 */

export interface BPathologist {
  id: string;
  name: string;
  siteId: string;
  subspecialties: readonly string[];
  capacity: number;
  onLeave: boolean;
}

export interface BCase {
  id: string;
  accession: string;
  siteId: string;
  subspecialty: string;
  points: number;
  urgent: boolean;
  /** Days to target (smaller = more pressing). */
  daysToBreach: number;
  assignedTo: string | null;
}

export interface Move {
  caseId: string;
  from: string | null;
  to: string;
  crossSite: boolean;
  reason: 'on leave' | 'over capacity' | 'unassigned' | 'makes room';
}

export interface BalanceOutput {
  moves: Move[];
  stillOver: { id: string; load: number; capacity: number }[];
  unplaced: string[];
}

const EPS = 1e-9;

export function eligible(p: BPathologist, c: BCase): boolean {
  return !p.onLeave && (c.subspecialty === 'general' || p.subspecialties.includes(c.subspecialty));
}

const pressing = (a: BCase, b: BCase): number =>
  a.urgent !== b.urgent ? (a.urgent ? -1 : 1) : a.daysToBreach - b.daysToBreach || (a.id < b.id ? -1 : 1);

export function balance(
  pathologists: readonly BPathologist[],
  cases: readonly BCase[],
  opts: {
    assignUnassigned?: boolean;
    maxSearch?: number;
    /** Cases that stay where they are (a move of theirs was turned down): never moved, never passed on. */
    pinned?: ReadonlySet<string>;
  } = {},
): BalanceOutput {
  const pinned = opts.pinned ?? new Set<string>();
  const byId = new Map(pathologists.map((p) => [p.id, p]));
  const load = new Map<string, number>(pathologists.map((p) => [p.id, 0]));
  const holding = new Map<string, Set<BCase>>(pathologists.map((p) => [p.id, new Set()]));
  const where = new Map<string, string | null>();
  const original = new Map<string, string | null>();
  const reasonOf = new Map<string, Move['reason']>();
  // Eligible receivers per subspecialty (computed once: 500 pathologists, a handful of subspecialties).
  const eligibleBySub = new Map<string, BPathologist[]>();
  const receivers = (c: BCase): BPathologist[] => {
    let list = eligibleBySub.get(c.subspecialty);
    if (!list) {
      list = pathologists.filter((p) => eligible(p, c));
      eligibleBySub.set(c.subspecialty, list);
    }
    return list;
  };
  for (const c of cases) {
    const a = c.assignedTo !== null && byId.has(c.assignedTo) ? c.assignedTo : null;
    where.set(c.id, a);
    original.set(c.id, a);
    if (a) {
      load.set(a, load.get(a)! + c.points);
      holding.get(a)!.add(c);
    }
  }
  const room = (id: string): number => byId.get(id)!.capacity - load.get(id)!;
  const put = (c: BCase, to: string | null): void => {
    const from = where.get(c.id) ?? null;
    if (from) {
      load.set(from, load.get(from)! - c.points);
      holding.get(from)!.delete(c);
    }
    if (to) {
      load.set(to, load.get(to)! + c.points);
      holding.get(to)!.add(c);
    }
    where.set(c.id, to);
  };

  // Cases that must find a new pathologist, most pressing first.
  const homeless: BCase[] = [];
  for (const p of pathologists) {
    const held = [...holding.get(p.id)!].sort(pressing);
    if (p.onLeave) {
      for (const c of held) {
        if (pinned.has(c.id)) continue;
        reasonOf.set(c.id, 'on leave');
        homeless.push(c);
      }
      continue;
    }
    // Keep the pinned cases, then those this pathologist may hold, in order, while they fit; the rest move.
    let kept = 0;
    for (const c of held) if (pinned.has(c.id)) kept += c.points;
    for (const c of held) {
      if (pinned.has(c.id)) continue;
      if (eligible(p, c) && kept + c.points <= p.capacity + EPS) kept += c.points;
      else {
        reasonOf.set(c.id, 'over capacity');
        homeless.push(c);
      }
    }
  }
  if (opts.assignUnassigned !== false)
    for (const c of cases)
      if (where.get(c.id) === null && !pinned.has(c.id)) {
        reasonOf.set(c.id, 'unassigned');
        homeless.push(c);
      }
  // They stay with their holder until placed: an over-full or on-leave holder never looks like it
  // has room, and a case nobody can take simply stays where it is.
  homeless.sort(pressing);

  const maxSearch = opts.maxSearch ?? 50_000;
  // Room only shrinks as cases are placed: once no chain exists for a subspecialty and size, none
  // will for a later case of that subspecialty at least as big. A total budget bounds the worst case.
  const noChain = new Map<string, number>();
  let budget = opts.maxSearch === undefined ? 2_000_000 : opts.maxSearch * 40;
  const unplaced: string[] = [];
  for (const c of homeless) {
    // Lifted only for its own turn: its holder may keep it if others can make room.
    const holder = where.get(c.id) ?? null;
    put(c, null);
    const direct = bestReceiver(c, receivers(c), room, holder);
    if (direct) {
      put(c, direct.id);
      continue;
    }
    const known = noChain.get(c.subspecialty);
    const path =
      (known !== undefined && c.points >= known - EPS) || budget <= 0
        ? null
        : augment(c, receivers, holding, room, pinned, Math.min(maxSearch, budget), (n) => (budget -= n));
    if (!path) noChain.set(c.subspecialty, Math.min(known ?? Infinity, c.points));
    if (path) {
      // path: [[case, to], ...] applied from the far end (the one with room) back to c.
      for (let i = path.length - 1; i >= 0; i--) {
        const [moved, to] = path[i]!;
        if (moved !== c && !reasonOf.has(moved.id)) reasonOf.set(moved.id, 'makes room');
        put(moved, to);
      }
      continue;
    }
    // No room anywhere: it stays where it was (or unassigned).
    put(c, holder);
    unplaced.push(c.id);
  }

  const moves: Move[] = [];
  for (const c of cases) {
    const to = where.get(c.id) ?? null;
    const from = original.get(c.id) ?? null;
    if (to === null || to === from) continue;
    moves.push({
      caseId: c.id,
      from,
      to,
      crossSite: byId.get(to)!.siteId !== c.siteId,
      reason: reasonOf.get(c.id) ?? 'makes room',
    });
  }
  const stillOver = pathologists
    .filter((p) => load.get(p.id)! > p.capacity + EPS || (p.onLeave && load.get(p.id)! > 0))
    .map((p) => ({ id: p.id, load: load.get(p.id)!, capacity: p.capacity }));
  return { moves, stillOver, unplaced };
}

/** The holder if it has room, else same site first, then most room; null when nobody has room. */
function bestReceiver(
  c: BCase,
  list: readonly BPathologist[],
  room: (id: string) => number,
  holder: string | null,
): BPathologist | null {
  let best: BPathologist | null = null;
  let bestKey = -Infinity;
  for (const p of list) {
    const r = room(p.id);
    if (r + EPS < c.points) continue;
    // Staying put is no move at all; then the case's own site; then most room.
    const key = (p.id === holder ? 2e9 : 0) + (p.siteId === c.siteId ? 1e9 : 0) + r;
    if (key > bestKey) {
      best = p;
      bestKey = key;
    }
  }
  return best;
}

/**
 * Breadth-first search for a chain: c goes to A, A passes case d1 to B, ... until someone has room.
 * Returns the moves as [case, to] pairs from c outward, or null.
 */
function augment(
  c: BCase,
  receivers: (c: BCase) => BPathologist[],
  holding: Map<string, Set<BCase>>,
  room: (id: string) => number,
  pinned: ReadonlySet<string>,
  maxSearch: number,
  spent: (steps: number) => void,
): [BCase, string][] | null {
  type Node = { id: string; incoming: BCase; parent: Node | null };
  const seen = new Set<string>();
  let frontier: Node[] = [];
  for (const p of receivers(c)) {
    seen.add(p.id);
    frontier.push({ id: p.id, incoming: c, parent: null });
  }
  let steps = 0;
  try {
    while (frontier.length > 0 && steps < maxSearch) {
      const next: Node[] = [];
      for (const node of frontier) {
        // node.id must give away something at least as big as what it receives, beyond its room.
        const need = node.incoming.points - room(node.id);
        for (const d of holding.get(node.id)!) {
          if (++steps > maxSearch) return null;
          if (d.points + EPS < need || d === c || pinned.has(d.id)) continue;
          for (const q of receivers(d)) {
            if (seen.has(q.id)) continue;
            if (room(q.id) + EPS >= d.points) {
              const out: [BCase, string][] = [[d, q.id]];
              for (let n: Node | null = node; n; n = n.parent) out.unshift([n.incoming, n.id]);
              return out;
            }
            seen.add(q.id);
            next.push({ id: q.id, incoming: d, parent: node });
          }
        }
      }
      frontier = next;
    }
    return null;
  } finally {
    spent(steps);
  }
}
