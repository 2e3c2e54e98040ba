import type { InboxItemDto } from '../../../protocol/review.ts';

const DAY = 86_400_000;

/** "Due in 3 days", "Due today", "Overdue by 2 days"; null without a due date. */
export function dueText(dueAt: string | null, now = Date.now()): string | null {
  if (!dueAt) return null;
  const days = Math.floor((Date.parse(dueAt) - now) / DAY);
  if (!Number.isFinite(days)) return null;
  if (days < 0) return `Overdue by ${-days} day${days === -1 ? '' : 's'}`;
  if (days === 0) return 'Due today';
  return `Due in ${days} day${days === 1 ? '' : 's'}`;
}

/** Pending first (the soonest due first), then answered, newest invitation first. */
export function inboxOrder(items: readonly InboxItemDto[]): InboxItemDto[] {
  const due = (i: InboxItemDto): number => (i.dueAt ? Date.parse(i.dueAt) : Infinity);
  return [...items].sort(
    (a, b) =>
      Number(a.response !== 'pending') - Number(b.response !== 'pending') ||
      (a.response === 'pending' ? due(a) - due(b) : 0) ||
      b.invitedAt.localeCompare(a.invitedAt),
  );
}

/** The full address of an invitation's link, to paste into a message. */
export const absoluteLink = (link: string, origin: string): string => new URL(link, origin).toString();
