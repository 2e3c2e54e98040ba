import { describe, expect, it } from 'vitest';
import type { PathologistDto, Suggestion } from '../../../protocol/cases.ts';
import { afterBatch, handReceivers } from './balance.ts';

const person = (
  userId: string,
  subs: PathologistDto['subspecialties'],
  load: number,
  cap: number,
  onLeave = false,
) =>
  ({
    userId,
    name: userId,
    siteId: 'north',
    siteName: 'North',
    subspecialties: subs,
    weeklyCapacity: cap,
    onLeave,
    load,
    openCases: 0,
  }) satisfies PathologistDto;

const suggestion = (
  caseId: string,
  subspecialty: Suggestion['subspecialty'],
  from: string | null,
): Suggestion => ({
  caseId,
  accession: caseId.toUpperCase(),
  from,
  fromName: from,
  to: 'x',
  toName: 'x',
  crossSite: false,
  reason: 'over capacity',
  points: 1,
  priority: 'routine',
  subspecialty,
  daysToBreach: 2,
  toSiteId: 'north',
  toSiteName: 'North',
  toSubspecialties: [subspecialty],
  toLoad: 0,
  toCapacity: 10,
});

describe('sending a suggested case by hand', () => {
  const people = [
    person('full', ['gi'], 9, 10),
    person('roomy', ['gi'], 2, 10),
    person('away', ['gi'], 0, 10, true),
    person('skin', ['skin'], 0, 10),
    person('holder', ['gi'], 12, 10),
  ];
  it('offers the subspecialty’s pathologists at work, least loaded first, never the holder', () => {
    expect(handReceivers(suggestion('c1', 'gi', 'holder'), people).map((p) => p.userId)).toEqual([
      'roomy',
      'full',
    ]);
  });
  it('offers anyone at work for a general case', () => {
    expect(handReceivers(suggestion('c2', 'general', null), people).map((p) => p.userId)).toEqual([
      'skin',
      'roomy',
      'full',
      'holder',
    ]);
  });
});

describe('after accepting several at once', () => {
  it('keeps the refused ones with their reason, drops the applied ones', () => {
    const list = [suggestion('a', 'gi', 'h'), suggestion('b', 'gi', 'h'), suggestion('c', 'gi', 'h')];
    const r = afterBatch(list, {
      applied: 2,
      refused: 1,
      results: [
        { caseId: 'a', ok: true },
        { caseId: 'b', ok: false, message: 'case B was reassigned since the suggestion' },
        { caseId: 'c', ok: true },
      ],
    });
    expect(r.left.map((s) => s.caseId)).toEqual(['b']);
    expect(r.errors).toEqual({ b: 'case B was reassigned since the suggestion' });
  });
});
