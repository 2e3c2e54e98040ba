import type { CaseDto, SlideDto } from '../../../protocol/index.ts';
import { send, sendJson } from '../api.ts';

const slidePath = (id: string): string => `/api/slides/${encodeURIComponent(id)}`;

/** The name the user's site gives a slide. */
export function renameSlide(id: string, name: string): Promise<SlideDto> {
  return sendJson<SlideDto>(slidePath(id), { method: 'PATCH', body: { name } });
}

/** Delete a slide (the user's site's copy; the whole slide when no other site has it). */
export function deleteSlide(id: string): Promise<void> {
  return send(slidePath(id), { method: 'DELETE' });
}

export function attachSlide(id: string, accession: string): Promise<CaseDto> {
  return sendJson<CaseDto>(`${slidePath(id)}/cases`, { method: 'POST', body: { accession } });
}

export function detachSlide(id: string, accession: string): Promise<CaseDto> {
  return sendJson<CaseDto>(`${slidePath(id)}/cases/${encodeURIComponent(accession)}`, { method: 'DELETE' });
}
