import type { BalanceDecisionsResult, PathologistDto, Suggestion } from '../../../protocol/cases.ts';

/**
 * Who a lab manager may send a case (suggested, or from its page) to by hand: pathologists of its subspecialty (any for
 * a general case), not on leave, other than its holder; least loaded against capacity first.
 */
export function handReceivers(
  s: Pick<Suggestion, 'from' | 'subspecialty'>,
  people: readonly PathologistDto[],
): PathologistDto[] {
  return people
    .filter(
      (p) =>
        !p.onLeave &&
        p.userId !== s.from &&
        (s.subspecialty === 'general' || p.subspecialties.includes(s.subspecialty)),
    )
    .sort(
      (a, b) =>
        a.load / Math.max(a.weeklyCapacity, 1e-9) - b.load / Math.max(b.weeklyCapacity, 1e-9) ||
        a.name.localeCompare(b.name),
    );
}

/** After a batch: the suggestions still open (the refused ones stay, with their reason). */
export function afterBatch(
  list: readonly Suggestion[],
  r: BalanceDecisionsResult,
): { left: Suggestion[]; errors: Record<string, string> } {
  const done = new Set(r.results.filter((x) => x.ok).map((x) => x.caseId));
  const errors: Record<string, string> = {};
  for (const x of r.results) if (!x.ok) errors[x.caseId] = x.message ?? 'refused';
  return { left: list.filter((s) => !done.has(s.caseId)), errors };
}
