import type { AiQaDto, AlgorithmDto } from '../../../protocol/index.ts';
import { getJson } from '../api.ts';
import { qaApiQuery, type QaFilter } from './format.ts';

export const QA_TABLES = ['summary', 'weekly', 'discordant'] as const;
export type QaTable = (typeof QA_TABLES)[number];

export function getQa(f: QaFilter, signal?: AbortSignal): Promise<AiQaDto> {
  const q = qaApiQuery(f).toString();
  return getJson<AiQaDto>(`/api/ai/qa${q ? `?${q}` : ''}`, signal);
}

/** The CSV export of one table under the same filters (a plain link: the browser downloads it). */
export function qaCsvUrl(f: QaFilter, table: QaTable): string {
  const q = qaApiQuery(f);
  q.set('table', table);
  return `/api/ai/qa.csv?${q.toString()}`;
}

export function listAlgorithms(signal?: AbortSignal): Promise<AlgorithmDto[]> {
  return getJson<AlgorithmDto[]>('/api/ai/algorithms', signal);
}
