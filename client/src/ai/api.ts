import type {
  AiFindingsDto,
  AiResultsDto,
  AiRunDto,
  AlgorithmDto,
  Verdict,
  VerdictDto,
} from '../../../protocol/ai.ts';
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

/** The algorithms the reader may see (enabled ones; all for those who manage them). */
export function listAlgorithms(signal?: AbortSignal): Promise<AlgorithmDto[]> {
  return getJson<AlgorithmDto[]>('/api/ai/algorithms', signal);
}

/** The slide's runs, newest first: queued, running and failed ones too. */
export function listRuns(slideId: string, signal?: AbortSignal): Promise<AiRunDto[]> {
  return getJson<AiRunDto[]>(`/api/slides/${enc(slideId)}/ai/runs`, signal);
}

export function requestRun(slideId: string, algorithmId: string): Promise<AiRunDto> {
  return sendJson<AiRunDto>(`/api/slides/${enc(slideId)}/ai/runs`, { method: 'POST', body: { algorithmId } });
}
