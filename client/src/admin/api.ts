import type {
  AddLeaveRequest,
  AdminCreateSiteRequest,
  AdminCreateUserRequest,
  AdminUpdateUserRequest,
  AdminUserDto,
  AlgorithmDto,
  AlgorithmInput,
  AlgorithmPatch,
  BuiltinAlgorithmDto,
  BuiltinRegistration,
  ImportReport,
  ResetPasswordResult,
  Role,
  SiteDto,
  WorkloadRuleDto,
} from '../../../protocol/index.ts';
import { ApiError, getJson, NetworkError, sendJson } from '../api.ts';

export interface UserFilter {
  q: string;
  site: string;
  role: Role | '';
  /** '' all, 'true' enabled only, 'false' disabled only. */
  enabled: '' | 'true' | 'false';
}

export const NO_FILTER: UserFilter = { q: '', site: '', role: '', enabled: '' };

export function userQuery(f: UserFilter): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, v.trim());
  const s = p.toString();
  return s ? `?${s}` : '';
}

const userPath = (id: string): string => `/api/admin/users/${encodeURIComponent(id)}`;

export function listPeople(f: UserFilter, signal?: AbortSignal): Promise<AdminUserDto[]> {
  return getJson<AdminUserDto[]>(`/api/admin/users${userQuery(f)}`, signal);
}

export function createPerson(body: AdminCreateUserRequest): Promise<AdminUserDto> {
  return sendJson<AdminUserDto>('/api/admin/users', { method: 'POST', body });
}

export function updatePerson(id: string, body: AdminUpdateUserRequest): Promise<AdminUserDto> {
  return sendJson<AdminUserDto>(userPath(id), { method: 'PATCH', body });
}

export function setDisabled(id: string, disabled: boolean): Promise<AdminUserDto> {
  return sendJson<AdminUserDto>(`${userPath(id)}/${disabled ? 'disable' : 'enable'}`, { method: 'POST' });
}

/** Without a password the server makes one up and answers it (once). */
export function resetPassword(id: string, password?: string): Promise<ResetPasswordResult> {
  return sendJson<ResetPasswordResult>(`${userPath(id)}/password`, {
    method: 'POST',
    body: password === undefined ? {} : { password },
  });
}

export function addLeave(id: string, body: AddLeaveRequest): Promise<AdminUserDto> {
  return sendJson<AdminUserDto>(`${userPath(id)}/leave`, { method: 'POST', body });
}

export function removeLeave(id: string, leaveId: string): Promise<AdminUserDto> {
  return sendJson<AdminUserDto>(`${userPath(id)}/leave/${encodeURIComponent(leaveId)}`, { method: 'DELETE' });
}

export function listAdminSites(signal?: AbortSignal): Promise<SiteDto[]> {
  return getJson<SiteDto[]>('/api/admin/sites', signal);
}

export function createSite(body: AdminCreateSiteRequest): Promise<SiteDto> {
  return sendJson<SiteDto>('/api/admin/sites', { method: 'POST', body });
}

export function renameSite(id: string, name: string): Promise<SiteDto> {
  return sendJson<SiteDto>(`/api/admin/sites/${encodeURIComponent(id)}`, { method: 'PATCH', body: { name } });
}

export function getWorkloadRules(signal?: AbortSignal): Promise<WorkloadRuleDto[]> {
  return getJson<WorkloadRuleDto[]>('/api/workload-rules', signal);
}

/** Points by specimen type; null removes a type. */
export function setWorkloadRules(rules: Record<string, number | null>): Promise<WorkloadRuleDto[]> {
  return sendJson<WorkloadRuleDto[]>('/api/workload-rules', { method: 'PUT', body: rules });
}

/**
 * Import a case CSV. A file with only bad rows answers 400 with its report (not an error body), so
 * the report is read whatever the status.
 */
export async function importCases(text: string): Promise<ImportReport> {
  let res: Response;
  try {
    res = await fetch('/api/cases/import', {
      method: 'POST',
      headers: { 'content-type': 'text/csv', accept: 'application/json' },
      body: text,
      credentials: 'same-origin',
    });
  } catch {
    throw new NetworkError();
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON
  }
  const b = body as Partial<ImportReport & { code: string; message: string }> | null;
  if (b && typeof b.imported === 'number' && Array.isArray(b.errors)) return b as ImportReport;
  if (b && typeof b.code === 'string')
    throw new ApiError(res.status, b.code, b.message ?? `HTTP ${res.status}`);
  if (res.status >= 500) throw new NetworkError();
  throw new ApiError(res.status, 'INTERNAL', `HTTP ${res.status}`);
}

export function listAlgorithms(signal?: AbortSignal): Promise<AlgorithmDto[]> {
  return getJson<AlgorithmDto[]>('/api/ai/algorithms', signal);
}

export function listBuiltins(signal?: AbortSignal): Promise<BuiltinAlgorithmDto[]> {
  return getJson<BuiltinAlgorithmDto[]>('/api/ai/builtins', signal);
}

/** A built-in by its key (lab managers and administrators), or any endpoint (administrators). */
export function registerAlgorithm(body: BuiltinRegistration | AlgorithmInput): Promise<AlgorithmDto> {
  return sendJson<AlgorithmDto>('/api/ai/algorithms', { method: 'POST', body });
}

export function updateAlgorithm(id: string, body: AlgorithmPatch): Promise<AlgorithmDto> {
  return sendJson<AlgorithmDto>(`/api/ai/algorithms/${encodeURIComponent(id)}`, { method: 'PATCH', body });
}
