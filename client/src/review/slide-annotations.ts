import type { AnnotationDto, AnnotationPatch } from '../../../protocol/review.ts';
import type { NewAnnotationBody } from '../api.ts';

/**
 * A slide's annotations outside a live session, kept through the REST API. Every change shows at
 * once (optimistic) and is undone on the screen when the server refuses it, with a plain reason.
 * The client makes each new annotation's id, so a shape can be changed or deleted while its
 * creation is still on its way (the later request waits for the earlier one).
 */

export interface AnnotationApi {
  create(slideId: string, body: NewAnnotationBody): Promise<AnnotationDto>;
  update(slideId: string, id: string, patch: AnnotationPatch): Promise<AnnotationDto>;
  remove(slideId: string, id: string): Promise<void>;
  comment(slideId: string, id: string, text: string): Promise<AnnotationDto>;
}

export interface Me {
  id: string;
  name: string;
}

export type SaveResult = { ok: true } | { ok: false; code: string; message: string };

export const VIEW_ONLY = 'this slide is shared with you: view only';

/**
 * Error → what the pathologist is told. `shared`: the slide is seen through a share, where every
 * change is refused (view only); on the site's own slide a refusal is about one annotation (someone
 * else's), and the server's reason is shown.
 */
export function refusal(e: unknown, shared = true): { code: string; message: string } {
  const o = e as { status?: number; code?: string; message?: string } | null;
  const code = o?.code ?? 'INTERNAL';
  if (o?.status === 403 || code === 'FORBIDDEN')
    return {
      code: 'FORBIDDEN',
      message: shared ? VIEW_ONLY : o?.message || 'you may not change this annotation',
    };
  if (code === 'LOCKED') return { code, message: 'this annotation is locked: unlock it to change it' };
  if (code === 'CONFLICT') return { code, message: 'changed by someone else since: reloaded' };
  if (o?.status === 404 || code === 'NOT_FOUND' || code === 'ANNOTATION_NOT_FOUND')
    return { code: 'NOT_FOUND', message: 'this annotation is gone (deleted elsewhere)' };
  if (e instanceof Error && e.name === 'NetworkError')
    return { code: 'NETWORK', message: 'cannot reach the server: not saved' };
  return { code, message: o?.message ? `not saved: ${o.message}` : 'not saved' };
}

export class SlideAnnotations {
  private list: AnnotationDto[] = [];
  /** Last state the server confirmed, per id (for putting a refused change back). */
  private readonly confirmed = new Map<string, AnnotationDto>();
  /** The latest request per annotation: the next one waits for it. */
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly slideId: string,
    private readonly api: AnnotationApi,
    private readonly me: Me,
    private readonly onError: (message: string) => void = () => {},
    private readonly newId: () => string = () => crypto.randomUUID(),
    /** Seen through a share (view only). */
    private readonly shared = true,
  ) {}

  get annotations(): readonly AnnotationDto[] {
    return this.list;
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** The server's list (a load or a reload); changes still on their way keep their local state. */
  reset(list: readonly AnnotationDto[]): void {
    this.confirmed.clear();
    for (const a of list) this.confirmed.set(a.id, a);
    const pending = this.list.filter((a) => this.inFlight.has(a.id) && !this.confirmed.has(a.id));
    this.list = [...list.map((a) => (this.inFlight.has(a.id) ? (this.find(a.id) ?? a) : a)), ...pending];
    this.changed();
  }

  private find(id: string): AnnotationDto | undefined {
    return this.list.find((a) => a.id === id);
  }

  private put(a: AnnotationDto): void {
    const i = this.list.findIndex((x) => x.id === a.id);
    this.list = i < 0 ? [...this.list, a] : this.list.map((x) => (x.id === a.id ? a : x));
    this.changed();
  }

  private drop(id: string): void {
    const before = this.list.length;
    this.list = this.list.filter((a) => a.id !== id);
    if (this.list.length !== before) this.changed();
  }

  /** The number of the latest change asked for, per annotation: only its answer is shown. */
  private readonly latest = new Map<string, number>();
  private counter = 0;

  /**
   * Run after whatever is already on its way for this annotation. The answer is shown only when no
   * later change was made meanwhile (that change's own answer will be), so nothing flickers back.
   */
  private queue<T>(id: string, run: () => Promise<T>): { done: Promise<T>; isLatest: () => boolean } {
    const token = ++this.counter;
    this.latest.set(id, token);
    const prev = this.inFlight.get(id) ?? Promise.resolve();
    const done = prev.then(run, run);
    this.inFlight.set(id, done);
    const clear = () => {
      if (this.inFlight.get(id) === done) this.inFlight.delete(id);
    };
    done.then(clear, clear);
    return { done, isLatest: () => this.latest.get(id) === token };
  }

  /** Shown at once; `saved` settles when the server has answered. */
  create(body: Omit<NewAnnotationBody, 'id'>): { id: string; saved: Promise<SaveResult> } {
    const id = this.newId();
    const now = new Date().toISOString();
    this.put({
      id,
      slideId: this.slideId,
      kind: body.kind,
      geometry: body.geometry,
      classification: body.classification,
      label: body.label,
      color: body.color ?? null,
      locked: body.locked ?? false,
      objectType: body.objectType ?? 'annotation',
      authorId: this.me.id,
      authorName: this.me.name,
      createdAt: now,
      updatedAt: now,
      version: 0,
      comments: [],
    });
    const q = this.queue(id, () => this.api.create(this.slideId, { ...body, id }));
    const saved = q.done.then(
      (a): SaveResult => {
        this.confirmed.set(id, a);
        if (q.isLatest() && this.find(id)) this.put(a);
        return { ok: true };
      },
      (e: unknown): SaveResult => {
        this.drop(id);
        const r = refusal(e, this.shared);
        this.onError(r.message);
        return { ok: false, ...r };
      },
    );
    return { id, saved };
  }

  update(id: string, patch: AnnotationPatch): Promise<SaveResult> {
    const before = this.find(id);
    if (!before) return Promise.resolve({ ok: false, code: 'NOT_FOUND', message: 'no such annotation' });
    this.put({ ...before, ...patch, updatedAt: new Date().toISOString() });
    const q = this.queue(id, async () => {
      // Its creation was refused: there is nothing to change (that refusal was reported).
      if (!this.confirmed.has(id)) return null;
      return this.api.update(this.slideId, id, patch);
    });
    return q.done.then(
      (a): SaveResult => {
        if (!a) return { ok: false, code: 'NOT_FOUND', message: 'not saved' };
        this.confirmed.set(id, a);
        if (q.isLatest() && this.find(id)) this.put(a);
        return { ok: true };
      },
      (e: unknown): SaveResult => {
        const back = this.confirmed.get(id);
        if (back && this.find(id)) this.put(back);
        const r = refusal(e, this.shared);
        this.onError(r.message);
        return { ok: false, ...r };
      },
    );
  }

  remove(id: string): Promise<SaveResult> {
    const before = this.find(id);
    if (!before) return Promise.resolve({ ok: true });
    this.drop(id);
    const q = this.queue(id, async () => {
      if (this.confirmed.has(id)) await this.api.remove(this.slideId, id);
    });
    return q.done.then(
      (): SaveResult => {
        this.confirmed.delete(id);
        return { ok: true };
      },
      (e: unknown): SaveResult => {
        const r = refusal(e, this.shared);
        if (r.code !== 'NOT_FOUND') this.put(this.confirmed.get(id) ?? before);
        this.onError(r.message);
        return { ok: false, ...r };
      },
    );
  }

  comment(id: string, text: string): Promise<SaveResult> {
    const q = this.queue(id, () => this.api.comment(this.slideId, id, text));
    return q.done.then(
      (a): SaveResult => {
        this.confirmed.set(id, a);
        if (q.isLatest() && this.find(id)) this.put(a);
        return { ok: true };
      },
      (e: unknown): SaveResult => {
        const r = refusal(e, this.shared);
        this.onError(r.message);
        return { ok: false, ...r };
      },
    );
  }
}
