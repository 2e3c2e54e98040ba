import type {
  BalanceDecision,
  BalanceDecisionsResult,
  BalanceResult,
  CaseDto,
  DashboardDto,
  SecondOpinionCandidatesDto,
  SecondOpinionDto,
  UpdateCaseRequest,
  WorklistItem,
} from '../../../protocol/cases.ts';
import { getJson, sendJson } from '../api.ts';
import { filterQuery, type DashboardFilter } from './filters.ts';

const casePath = (id: string): string => `/api/cases/${encodeURIComponent(id)}`;

export function getWorklist(signal?: AbortSignal): Promise<WorklistItem[]> {
  return getJson<WorklistItem[]>('/api/worklist', signal);
}

export function updateCase(id: string, body: UpdateCaseRequest): Promise<CaseDto> {
  return sendJson<CaseDto>(casePath(id), { method: 'PATCH', body });
}

export function askSecondOpinion(
  id: string,
  question: string,
  specialistId?: string,
): Promise<SecondOpinionDto> {
  return sendJson<SecondOpinionDto>(`${casePath(id)}/second-opinion`, {
    method: 'POST',
    body: specialistId ? { question, specialistId } : { question },
  });
}

/** Who may be asked for a second opinion on a case, least loaded first. */
export function getOpinionCandidates(id: string, signal?: AbortSignal): Promise<SecondOpinionCandidatesDto> {
  return getJson<SecondOpinionCandidatesDto>(`${casePath(id)}/second-opinion/candidates`, signal);
}

export function getDashboard(f: DashboardFilter, signal?: AbortSignal): Promise<DashboardDto> {
  return getJson<DashboardDto>(`/api/dashboard${filterQuery(f)}`, signal);
}

export function getBalanceSuggestions(f: DashboardFilter, signal?: AbortSignal): Promise<BalanceResult> {
  return getJson<BalanceResult>(`/api/balance/suggestions${filterQuery(f)}`, signal);
}

export function decideBalanceBatch(decisions: BalanceDecision[]): Promise<BalanceDecisionsResult> {
  return sendJson<BalanceDecisionsResult>('/api/balance/decisions/batch', {
    method: 'POST',
    body: { decisions },
  });
}

export function decideBalance(d: BalanceDecision): Promise<CaseDto> {
  return sendJson<CaseDto>('/api/balance/decisions', { method: 'POST', body: d });
}
