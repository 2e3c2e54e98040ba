import { describe, expect, it } from 'vitest';
import * as protocol from '../../../protocol/case-page.ts';
import {
  REPORT_UNDO_MS,
  caseAccessionOf,
  casePath,
  caseSlidePath,
  filterWorklist,
  historyText,
  neighbours,
  parseWorklistFilter,
  secondsLeft,
  startSlide,
  worklistFilterQuery,
} from './case-nav.ts';

describe('case paths', () => {
  it('round-trips accessions with slashes and dots through the case page path', () => {
    for (const a of ['N25-0201', 'H/26/0042', 'a.b_c']) expect(caseAccessionOf(casePath(a))).toBe(a);
    expect(casePath('H/26/1')).toBe('/cases/H%2F26%2F1');
    expect(caseAccessionOf('/cases/')).toBeNull();
    expect(caseAccessionOf('/cases/a/b')).toBeNull();
    expect(caseAccessionOf('/cases/%E0%A4%A')).toBeNull();
    expect(caseAccessionOf('/worklist')).toBeNull();
  });

  it('opens a slide in the viewer with its case named', () => {
    expect(caseSlidePath('abc', 'H/26/1')).toBe('/view/abc?case=H%2F26%2F1');
  });
});

describe('neighbours', () => {
  it('gives the previous and next slide, none past either end, and nothing for a slide not in the case', () => {
    expect(neighbours(['a', 'b', 'c'], 'b')).toEqual({ index: 1, prev: 'a', next: 'c' });
    expect(neighbours(['a', 'b', 'c'], 'a')).toEqual({ index: 0, prev: null, next: 'b' });
    expect(neighbours(['a', 'b', 'c'], 'c')).toEqual({ index: 2, prev: 'b', next: null });
    expect(neighbours(['a'], 'z')).toEqual({ index: -1, prev: null, next: null });
  });
});

describe('startSlide', () => {
  it('is the first unread slide, else the first one the user may see, else none', () => {
    const slides = [
      { id: 'hidden', visible: false },
      { id: 'a', visible: true },
      { id: 'b', visible: true },
    ];
    expect(startSlide({ firstUnread: 'b', slides })).toBe('b');
    expect(startSlide({ firstUnread: null, slides })).toBe('a');
    expect(startSlide({ firstUnread: null, slides: [] })).toBeNull();
  });
});

describe('REPORT_UNDO_MS', () => {
  it("is the protocol's", () => {
    expect(REPORT_UNDO_MS).toBe(protocol.REPORT_UNDO_MS);
  });
});

describe('secondsLeft', () => {
  it('rounds up and stops at zero', () => {
    const now = Date.parse('2026-01-01T00:00:00.000Z');
    expect(secondsLeft('2026-01-01T00:00:09.100Z', now)).toBe(10);
    expect(secondsLeft('2026-01-01T00:00:00.000Z', now)).toBe(0);
    expect(secondsLeft('2025-12-31T23:59:00.000Z', now)).toBe(0);
    expect(secondsLeft(null, now)).toBe(0);
    expect(secondsLeft('nonsense', now)).toBe(0);
  });
});

describe('worklist filters', () => {
  it('reads known values only and writes them back in a fixed order', () => {
    expect(parseWorklistFilter('?status=in_review&priority=urgent')).toEqual({
      priority: 'urgent',
      status: 'in_review',
    });
    expect(parseWorklistFilter('?priority=soon&status=done')).toEqual({ priority: '', status: '' });
    expect(worklistFilterQuery({ priority: 'urgent', status: 'in_review' })).toBe(
      '?priority=urgent&status=in_review',
    );
    expect(worklistFilterQuery({ priority: '', status: '' })).toBe('');
  });

  it('keeps the items matching every filter set', () => {
    const items = [
      { id: 1, priority: 'urgent', status: 'assigned' },
      { id: 2, priority: 'routine', status: 'assigned' },
      { id: 3, priority: 'urgent', status: 'in_review' },
    ] as const;
    expect(filterWorklist(items, { priority: 'urgent', status: '' }).map((i) => i.id)).toEqual([1, 3]);
    expect(filterWorklist(items, { priority: 'urgent', status: 'assigned' }).map((i) => i.id)).toEqual([1]);
    expect(filterWorklist(items, { priority: '', status: '' })).toHaveLength(3);
  });
});

describe('historyText', () => {
  it('says what happened in words', () => {
    expect(historyText({ action: 'case.update', detail: { status: 'in_review' } })).toBe(
      'Status set to In review',
    );
    expect(historyText({ action: 'case.update', detail: { assignedTo: 'u1', from: null } })).toBe(
      'Assigned to a pathologist',
    );
    expect(
      historyText({ action: 'case.update', detail: { assignedTo: 'u1' } }, { people: { u1: 'Nora North' } }),
    ).toBe('Assigned to Nora North');
    expect(
      historyText({ action: 'case.attach_slide', detail: { slide: 's1' } }, { slides: { s1: 'A1 H&E' } }),
    ).toBe('Slide A1 H&E attached');
    expect(historyText({ action: 'case.attach_slide', detail: { slide: 's2' } })).toBe('Slide attached');
    expect(historyText({ action: 'case.report_undo', detail: { status: 'in_review' } })).toBe(
      '"Mark reported" undone (back to In review)',
    );
    expect(historyText({ action: 'case.second_opinion', detail: { specialist: 'Sam South' } })).toBe(
      'Second opinion asked of Sam South',
    );
    expect(historyText({ action: 'something.new', detail: {} })).toBe('something.new');
  });
});
