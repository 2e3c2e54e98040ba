import type { AiFindingsDto, AiResultsDto, Verdict, VerdictDto } from '../../../protocol/ai.ts';
import { getJson, send, sendJson } from '../api.ts';

const enc = encodeURIComponent;

export function getAiResults(slideId: string, signal?: AbortSignal): Promise<AiResultsDto> {
  return getJson<AiResultsDto>(`/api/slides/${enc(slideId)}/ai/results`, signal);
}

/** A layer's findings (its `findings.url`), all of them: the threshold is applied in the viewer. */
export function getAiFindings(url: string, signal?: AbortSignal): Promise<AiFindingsDto> {
  return getJson<AiFindingsDto>(url, signal);
}

/** 'slide' for the slide-level result, else a finding's id. */
export type VerdictTarget = 'slide' | { findingId: string };

function verdictUrl(runId: string, target: VerdictTarget): string {
  const base = `/api/ai/runs/${enc(runId)}/verdicts`;
  return target === 'slide' ? `${base}/slide` : `${base}/findings/${enc(target.findingId)}`;
}

export function putVerdict(runId: string, target: VerdictTarget, verdict: Verdict): Promise<VerdictDto> {
  return sendJson<VerdictDto>(verdictUrl(runId, target), { method: 'PUT', body: { verdict } });
}

export function withdrawVerdict(runId: string, target: VerdictTarget): Promise<void> {
  return send(verdictUrl(runId, target), { method: 'DELETE' });
}
