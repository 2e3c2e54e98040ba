import { describe, expect, it } from 'vitest';
import type { InboxItemDto } from '../../../protocol/review.ts';
import { absoluteLink, dueText, inboxOrder } from './format.ts';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const item = (sessionId: string, o: Partial<InboxItemDto>): InboxItemDto => ({
  sessionId,
  slideId: 'a'.repeat(32),
  kind: 'second_opinion',
  title: 't',
  question: null,
  fromName: 'f',
  fromSiteName: 's',
  invitedAt: '2026-12-01T00:00:00Z',
  dueAt: null,
  response: 'pending',
  link: `/view/${'a'.repeat(32)}?session=${sessionId}`,
  ...o,
});

describe('inbox due dates', () => {
  it('says how long is left, or how late', () => {
    expect(dueText(null, NOW)).toBeNull();
    expect(dueText('2026-12-06T13:00:00Z', NOW)).toBe('Due in 3 days');
    expect(dueText('2026-12-04T13:00:00Z', NOW)).toBe('Due in 1 day');
    expect(dueText('2026-12-03T18:00:00Z', NOW)).toBe('Due today');
    expect(dueText('2026-12-02T18:00:00Z', NOW)).toBe('Overdue by 1 day');
    expect(dueText('2026-11-30T11:00:00Z', NOW)).toBe('Overdue by 4 days');
  });
});

describe('inbox order', () => {
  it('puts pending first, soonest due first, then answered ones newest first', () => {
    const list = [
      item('answered-old', { response: 'accepted', invitedAt: '2026-11-01T00:00:00Z' }),
      item('late', { dueAt: '2026-12-10T00:00:00Z' }),
      item('answered-new', { response: 'declined', invitedAt: '2026-12-02T00:00:00Z' }),
      item('soon', { dueAt: '2026-12-04T00:00:00Z' }),
      item('undated', { kind: 'review' }),
    ];
    expect(inboxOrder(list).map((i) => i.sessionId)).toEqual([
      'soon',
      'late',
      'undated',
      'answered-new',
      'answered-old',
    ]);
  });
  it('makes a link to paste', () => {
    expect(absoluteLink('/view/abc?session=s1', 'https://wsi.example.nhs.uk')).toBe(
      'https://wsi.example.nhs.uk/view/abc?session=s1',
    );
  });
});
