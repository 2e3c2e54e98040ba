import type { InboxDto, InboxItemDto } from '../../../protocol/review.ts';
import { getJson, sendJson } from '../api.ts';

export function getInbox(signal?: AbortSignal): Promise<InboxDto> {
  return getJson<InboxDto>('/api/inbox', signal);
}

export function answerInvitation(sessionId: string, response: 'accept' | 'decline'): Promise<InboxItemDto> {
  return sendJson<InboxItemDto>(`/api/inbox/${encodeURIComponent(sessionId)}`, {
    method: 'POST',
    body: { response },
  });
}
