import type {
  AnnotationDto,
  AssociatedName,
  AuthStateDto,
  CreateShareRequest,
  ErrorBody,
  GeoJsonImportReport,
  JobDto,
  LoginRequest,
  MeDto,
  OpinionDto,
  ReviewSessionDto,
  ShareDto,
  SiteDto,
  SlideDto,
  SlidePage,
  UploadAccepted,
  UserDto,
} from '../../protocol/index.ts';
import type {
  AnnotationClass,
  AnnotationKind,
  AnnotationPatch,
  Geometry,
  ObjectType,
} from '../../protocol/review.ts';

/** The server answered with an error body (or at least an error status). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    /** The whole error body, for errors that carry more than a message (an import's report). */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** No answer at all: the server is down, or a proxy in front of it could not reach it. */
export class NetworkError extends Error {
  constructor(message = 'Cannot reach the Tessera server') {
    super(message);
    this.name = 'NetworkError';
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404;
}

/**
 * Called when an API call answers 401: the session ended (expired, signed out elsewhere, revoked).
 * The app shows the login page; the call still rejects, so the page that made it can stop waiting.
 */
let onUnauthenticated: (() => void) | null = null;
export function setUnauthenticatedHandler(fn: (() => void) | null): void {
  onUnauthenticated = fn;
}

function noteStatus(status: number, quiet401: boolean): void {
  if (status === 401 && !quiet401) onUnauthenticated?.();
}

function isErrorBody(v: unknown): v is ErrorBody {
  return typeof v === 'object' && v !== null && typeof (v as ErrorBody).code === 'string';
}

const STATUS_CODES: Record<number, string> = {
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  429: 'RATE_LIMITED',
};

/**
 * The server always answers errors with a JSON body; a 5xx without one came from something in
 * between (a gateway or the dev proxy) that could not reach it.
 */
function errorFrom(status: number, text: string): Error {
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: fall through
  }
  if (isErrorBody(body)) return new ApiError(status, body.code, body.message, body.requestId, body);
  if (status >= 500) return new NetworkError();
  return new ApiError(status, STATUS_CODES[status] ?? 'INTERNAL', `HTTP ${status}`);
}

interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  body?: unknown;
  /** Sent as it is, with this content type, instead of `body` as JSON. */
  raw?: { text: string; type: string };
  signal?: AbortSignal;
  /** A 401 is this call's answer (wrong password, not signed in), not a lost session. */
  quiet401?: boolean;
}

async function request(url: string, o: RequestOptions = {}): Promise<string> {
  let res: Response;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.raw) headers['content-type'] = o.raw.type;
  else if (o.body !== undefined) headers['content-type'] = 'application/json';
  try {
    res = await fetch(url, {
      method: o.method ?? 'GET',
      signal: o.signal,
      headers,
      body: o.raw ? o.raw.text : o.body === undefined ? undefined : JSON.stringify(o.body),
      credentials: 'same-origin',
    });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    throw new NetworkError();
  }
  const text = await res.text();
  if (!res.ok) {
    noteStatus(res.status, o.quiet401 ?? false);
    throw errorFrom(res.status, text);
  }
  return text;
}

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  return JSON.parse(await request(url, { signal })) as T;
}

export async function sendJson<T>(url: string, o: RequestOptions): Promise<T> {
  return JSON.parse(await request(url, o)) as T;
}

/** A call answered without a body (204). */
export async function send(url: string, o: RequestOptions): Promise<void> {
  await request(url, o);
}

// ---- accounts ----

export function getAuthState(signal?: AbortSignal): Promise<AuthStateDto> {
  return getJson<AuthStateDto>('/api/auth/state', signal);
}

/** The signed-in user; rejects with a 401 ApiError when nobody is (without raising the session alarm). */
export async function getMe(signal?: AbortSignal): Promise<MeDto> {
  return JSON.parse(await request('/api/auth/me', { signal, quiet401: true })) as MeDto;
}

export function login(body: LoginRequest): Promise<MeDto> {
  return sendJson<MeDto>('/api/auth/login', { method: 'POST', body, quiet401: true });
}

export async function logout(): Promise<void> {
  await request('/api/auth/logout', { method: 'POST', quiet401: true });
}

export function listSites(signal?: AbortSignal): Promise<SiteDto[]> {
  return getJson<SiteDto[]>('/api/sites', signal);
}

export function listUsers(signal?: AbortSignal): Promise<UserDto[]> {
  return getJson<UserDto[]>('/api/users', signal);
}

// ---- shares ----

export function listShares(slideId: string, signal?: AbortSignal): Promise<ShareDto[]> {
  return getJson<ShareDto[]>(`/api/slides/${encodeURIComponent(slideId)}/shares`, signal);
}

export function createShare(slideId: string, body: CreateShareRequest): Promise<ShareDto> {
  return sendJson<ShareDto>(`/api/slides/${encodeURIComponent(slideId)}/shares`, { method: 'POST', body });
}

export async function revokeShare(shareId: string): Promise<void> {
  await request(`/api/shares/${encodeURIComponent(shareId)}`, { method: 'DELETE' });
}

// ---- annotations and review sessions ----

const slidePath = (id: string): string => `/api/slides/${encodeURIComponent(id)}`;

type AnnotationList = { seq: number; annotations: AnnotationDto[] };

/** Annotation lists asked for before the viewer's code had loaded (prefetchAnnotations). */
const earlyAnnotations = new Map<string, Promise<AnnotationList>>();

/**
 * Start reading a slide's annotations with its manifest, while the viewer's code is on its way and
 * the session is checked: with thousands on a slide their transfer otherwise starts only once the
 * viewer has mounted (~250 ms later). The viewer's first listAnnotations for that slide takes it over.
 */
export function prefetchAnnotations(slideId: string): void {
  if (earlyAnnotations.has(slideId)) return;
  const p = getJson<AnnotationList>(`${slidePath(slideId)}/annotations`);
  p.catch(() => {}); // a failure is asked again by the listAnnotations that takes it over
  earlyAnnotations.set(slideId, p);
}

export function listAnnotations(slideId: string, signal?: AbortSignal): Promise<AnnotationList> {
  const ask = (): Promise<AnnotationList> => getJson(`${slidePath(slideId)}/annotations`, signal);
  const p = earlyAnnotations.get(slideId);
  if (!p) return ask();
  earlyAnnotations.delete(slideId);
  return p.catch(ask);
}

/** QuPath-compatible GeoJSON, as text (to save as a file). */
export function exportAnnotationsGeoJson(slideId: string): Promise<string> {
  return request(`${slidePath(slideId)}/annotations?format=geojson`);
}

/**
 * Imports a GeoJSON file's text as it is (QuPath writes a bare NaN for a measurement without a
 * value, which the server reads and JSON.parse would not). Some features refused: the report lists
 * them; none stored: an ApiError whose `body` holds the same report.
 */
export function importAnnotationsGeoJson(slideId: string, text: string): Promise<GeoJsonImportReport> {
  return sendJson(`${slidePath(slideId)}/annotations?format=geojson`, {
    method: 'POST',
    raw: { text, type: 'application/geo+json' },
  });
}

/** A new annotation as the REST API takes it (the id may be made by the client). */
export interface NewAnnotationBody {
  id?: string;
  kind: AnnotationKind;
  geometry: Geometry;
  classification: AnnotationClass | null;
  label: string;
  color?: string | null;
  locked?: boolean;
  objectType?: ObjectType;
}

export function createAnnotation(slideId: string, body: NewAnnotationBody): Promise<AnnotationDto> {
  return sendJson(`${slidePath(slideId)}/annotations`, { method: 'POST', body });
}

export function updateAnnotation(
  slideId: string,
  id: string,
  patch: AnnotationPatch,
  ifVersion?: number,
): Promise<AnnotationDto> {
  return sendJson(`${slidePath(slideId)}/annotations/${encodeURIComponent(id)}`, {
    method: 'PATCH',
    body: ifVersion === undefined ? patch : { ...patch, ifVersion },
  });
}

export async function deleteAnnotation(slideId: string, id: string): Promise<void> {
  await request(`${slidePath(slideId)}/annotations/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export function commentOnAnnotation(slideId: string, id: string, text: string): Promise<AnnotationDto> {
  return sendJson(`${slidePath(slideId)}/annotations/${encodeURIComponent(id)}/comments`, {
    method: 'POST',
    body: { text },
  });
}

/** The classes offered for annotations (the palette an administrator keeps). */
export function listAnnotationClasses(signal?: AbortSignal): Promise<AnnotationClass[]> {
  return getJson<AnnotationClass[]>('/api/annotation-classes', signal);
}

export function saveAnnotationClasses(classes: AnnotationClass[]): Promise<AnnotationClass[]> {
  return sendJson<AnnotationClass[]>('/api/annotation-classes', { method: 'PUT', body: classes });
}

export function listSessions(signal?: AbortSignal): Promise<ReviewSessionDto[]> {
  return getJson<ReviewSessionDto[]>('/api/sessions', signal);
}

export function getSession(
  id: string,
  signal?: AbortSignal,
): Promise<ReviewSessionDto & { opinions: OpinionDto[] }> {
  return getJson(`/api/sessions/${encodeURIComponent(id)}`, signal);
}

export function createSession(slideId: string, title: string): Promise<ReviewSessionDto> {
  return sendJson<ReviewSessionDto>('/api/sessions', { method: 'POST', body: { slideId, title } });
}

export function inviteToSession(
  sessionId: string,
  userId: string,
): Promise<{ session: ReviewSessionDto; share: ShareDto | null }> {
  return sendJson(`/api/sessions/${encodeURIComponent(sessionId)}/invite`, {
    method: 'POST',
    body: { userId, identified: false },
  });
}

export function closeSession(sessionId: string): Promise<ReviewSessionDto> {
  return sendJson<ReviewSessionDto>(`/api/sessions/${encodeURIComponent(sessionId)}/close`, {
    method: 'POST',
  });
}

// ---- slides ----

/** Filters, order and page of the library (protocol/library.ts); all optional. */
export interface SlideListParams {
  q?: string;
  site?: string;
  case?: string;
  stain?: string;
  format?: string;
  from?: string;
  to?: string;
  sort?: 'date' | 'name';
  dir?: 'asc' | 'desc';
  limit?: number;
  /** A page's nextCursor; none or '' for the first page. */
  cursor?: string;
}

/** One page of the slides the user may see. */
export function listSlides(params: SlideListParams = {}, signal?: AbortSignal): Promise<SlidePage> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== '' && k !== 'cursor') q.set(k, String(v));
  q.set('cursor', params.cursor ?? '');
  return getJson<SlidePage>(`/api/slides?${q.toString()}`, signal);
}

/** Slides asked for before the page that shows them had loaded its code (prefetchSlide). */
const early = new Map<string, Promise<SlideDto>>();
/** Slides the page itself carried (known at once, no request), until the viewer's getSlide takes them. */
const carriedSlides = new Map<string, SlideDto>();

/**
 * Start loading a slide's manifest now, while the viewer's code is still on its way; the viewer's
 * first getSlide for that id takes the answer over instead of asking again.
 */
export function prefetchSlide(id: string): void {
  if (early.has(id)) return;
  // A slide's page may carry the slide for the signed-in user (the server's own API answer).
  const block = document.getElementById('tessera-slide');
  if (block) {
    block.remove();
    try {
      const slide = JSON.parse(block.textContent ?? '') as SlideDto;
      if (slide.id === id) {
        early.set(id, Promise.resolve(slide));
        carriedSlides.set(id, slide);
        return;
      }
    } catch {
      // Not usable: ask the API as usual.
    }
  }
  const p = getJson<SlideDto>(`/api/slides/${encodeURIComponent(id)}`);
  p.catch(() => {}); // reported by the getSlide that takes it over
  early.set(id, p);
}

/**
 * The slide this page carried for `id`, if getSlide has not taken it yet: the viewer starts with it
 * in its first render instead of a render, a commit and a task later (then takes it with takeCarriedSlide).
 */
export const carriedSlide = (id: string): SlideDto | null => carriedSlides.get(id) ?? null;

/** Forget what the page carried for `id` (the viewer has taken it): a later viewer asks the API. */
export function takeCarriedSlide(id: string): void {
  carriedSlides.delete(id);
  early.delete(id);
}

export function getSlide(id: string, signal?: AbortSignal): Promise<SlideDto> {
  const ask = (): Promise<SlideDto> => getJson<SlideDto>(`/api/slides/${encodeURIComponent(id)}`, signal);
  const p = early.get(id);
  if (!p) return ask();
  early.delete(id);
  carriedSlides.delete(id);
  // A prefetch that failed (signed out at the time, say) is asked again, so the answer is today's.
  return p.catch(ask);
}

export function getJob(id: string, signal?: AbortSignal): Promise<JobDto> {
  return getJson<JobDto>(`/api/jobs/${encodeURIComponent(id)}`, signal);
}

export const dziFilesUrl = (id: string): string => `/slides/${encodeURIComponent(id)}_files/`;
export const thumbnailUrl = (id: string, max = 256): string =>
  `/api/slides/${encodeURIComponent(id)}/thumbnail?max=${max}`;
export const associatedUrl = (id: string, name: AssociatedName): string =>
  `/api/slides/${encodeURIComponent(id)}/associated/${name}`;

/** One slide to upload: a single file, or the files of one folder (DICOM series, MIRAX). */
export type UploadPayload =
  { kind: 'file'; file: File } | { kind: 'folder'; name: string; files: { file: File; path: string }[] };

export function payloadName(p: UploadPayload): string {
  return p.kind === 'file' ? p.file.name : p.name;
}

export function payloadBytes(p: UploadPayload): number {
  return p.kind === 'file' ? p.file.size : p.files.reduce((s, f) => s + f.file.size, 0);
}

export interface UploadHandle {
  done: Promise<UploadAccepted>;
  abort(): void;
}

/**
 * XMLHttpRequest rather than fetch: fetch still reports no upload progress. A single file goes as
 * a raw body (streamed to disk by the server); a folder goes as one multipart request whose file
 * names carry the relative paths the reader needs to see the series or MIRAX layout.
 */
export function uploadSlide(
  payload: UploadPayload,
  onProgress: (loaded: number, total: number) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<UploadAccepted>((resolve, reject) => {
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : payloadBytes(payload));
    xhr.onload = () => {
      if (xhr.status === 202 || xhr.status === 200) {
        try {
          resolve(JSON.parse(xhr.responseText) as UploadAccepted);
        } catch {
          reject(new ApiError(xhr.status, 'INTERNAL', 'the server gave an unreadable answer'));
        }
      } else {
        noteStatus(xhr.status, false);
        reject(errorFrom(xhr.status, xhr.responseText));
      }
    };
    xhr.onerror = () => reject(new NetworkError());
    xhr.onabort = () => reject(new DOMException('upload cancelled', 'AbortError'));
    if (payload.kind === 'file') {
      xhr.open('POST', `/api/slides?name=${encodeURIComponent(payload.file.name)}`);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.send(payload.file);
    } else {
      const form = new FormData();
      for (const f of payload.files) form.append('file', f.file, f.path);
      xhr.open('POST', '/api/slides');
      xhr.send(form);
    }
  });
  return { done, abort: () => xhr.abort() };
}
