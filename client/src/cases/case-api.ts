import type { CaseBarDto, CasePageDto, ReportResult, SlideCasesDto } from '../../../protocol/case-page.ts';
import type { CaseDto } from '../../../protocol/cases.ts';
import { getJson, sendJson } from '../api.ts';

export function getCasePage(accession: string, signal?: AbortSignal): Promise<CasePageDto> {
  return getJson<CasePageDto>(`/api/cases/by-accession/${encodeURIComponent(accession)}`, signal);
}

/** The case a slide is read in (the named one, else the one holding it); 404 when none. */
export function getCaseBar(
  slideId: string,
  accession: string | null,
  signal?: AbortSignal,
): Promise<CaseBarDto> {
  const q = accession ? `?case=${encodeURIComponent(accession)}` : '';
  return getJson<CaseBarDto>(`/api/slides/${encodeURIComponent(slideId)}/case${q}`, signal);
}

export function getSlideCases(ids: readonly string[], signal?: AbortSignal): Promise<SlideCasesDto> {
  return getJson<SlideCasesDto>(`/api/slide-cases?ids=${ids.map(encodeURIComponent).join(',')}`, signal);
}

export function reportCase(id: string): Promise<ReportResult> {
  return sendJson<ReportResult>(`/api/cases/${encodeURIComponent(id)}/report`, { method: 'POST' });
}

export function undoReport(id: string): Promise<CaseDto> {
  return sendJson<CaseDto>(`/api/cases/${encodeURIComponent(id)}/report/undo`, { method: 'POST' });
}
