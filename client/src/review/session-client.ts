import type { Socket } from 'socket.io-client';
import type {
  AnnotationDto,
  AnnotationPatch,
  AppliedOp,
  ChatMessageDto,
  ClientToServerEvents,
  JoinResult,
  Operation,
  OpinionDto,
  OpinionRequest,
  OpResult,
  Participant,
  ReviewSessionDto,
  ServerToClientEvents,
  SnapshotPart,
  SnapshotRef,
} from '../../../protocol/index.ts';
// A value from protocol/ would bring its zod schemas into the bundle; the copy is checked in a test.
import { REVIEW_PROTOCOL_VERSION } from './constants.ts';

export type ReviewSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The part of the Web Storage API used to keep unsent changes (localStorage in the browser). */
export interface PendingStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Undo/redo entry: how to take one of my own changes back (or forward again). */
interface HistoryEntry {
  annotationId: string;
  /** The annotation's version my change produced; the undo applies only if it is still current. */
  version: number;
  make: (version: number) => Operation;
  /** The entry for the other stack once this one is applied. */
  inverse: () => Omit<HistoryEntry, 'version'>;
}

const newId = (): string => crypto.randomUUID();

const byCreation = (a: AnnotationDto, b: AnnotationDto): number =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/** A join whose snapshot stopped arriving (connection dropped, or joined again). */
class Interrupted extends Error {}

/**
 * A join's snapshot (its `snapshot` parts put together: gzipped UTF-8 JSON, shared by every joiner)
 * as the list it encodes; decompressed by the platform's DecompressionStream (browsers and Node alike).
 */
export async function decodeAnnotations(bytes: Uint8Array | ArrayBuffer): Promise<AnnotationDto[]> {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const stream = new Blob([view as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(new DecompressionStream('gzip'));
  return JSON.parse(await new Response(stream).text()) as AnnotationDto[];
}

/**
 * One participant's side of a review session, without any UI: the server's annotation state, my
 * operations not yet acknowledged (shown optimistically, resent after a reconnect; the server
 * recognises a resend by its opId), undo/redo of my own changes only, presence and chat.
 *
 * Convergence: the server's state wins. On every (re)join the client takes the server's snapshot,
 * applies the operations that came after it, and puts its pending operations back on top; each
 * broadcast operation replaces an annotation only when its seq is newer than the one the client holds.
 *
 * A socket the server ended (`kicked`: access revoked, signed out; `closed`: the host closed the
 * session) stays ended: no reconnection.
 */
export class ReviewSession {
  session: ReviewSessionDto | null = null;
  /** Highest seq seen. */
  seq = 0;
  participants: Participant[] = [];
  chat: ChatMessageDto[] = [];
  opinions: OpinionDto[] = [];
  /** Operations applied on top of the snapshot on the last (re)join. */
  lastReplay = 0;
  connected = false;
  /** Why the server ended this session for me (kicked or closed); null while it goes on. */
  ended: string | null = null;
  private confirmed = new Map<string, AnnotationDto>();
  /** Per annotation, the seq of the state held (deletes included). */
  private seqOf = new Map<string, number>();
  private pending: { op: Operation; resolve: (r: OpResult) => void }[] = [];
  private undoStack: HistoryEntry[] = [];
  private redoStack: HistoryEntry[] = [];
  /** Per annotation, the version my latest accepted change produced (undo checks against it). */
  private myVersion = new Map<string, number>();
  private listeners = new Set<() => void>();
  private joined: Promise<JoinResult> | null = null;
  /**
   * Operations broadcast from the moment a join is asked until its snapshot is received and
   * decompressed: applied after it, in order, so none is overwritten by the older snapshot. Null when
   * no join is under way.
   */
  private held: AppliedOp[] | null = null;
  /** The snapshot parts of the join under way, as they arrive. */
  private incoming: {
    ref: SnapshotRef;
    parts: Uint8Array[];
    got: number;
    done: (bytes: Uint8Array | null) => void;
  } | null = null;

  /**
   * `storage` (the browser's localStorage) keeps my unsent changes across a page reload: they are
   * read back here and sent once the session is joined again.
   */
  constructor(
    readonly socket: ReviewSocket,
    readonly sessionId: string,
    private readonly storage: PendingStorage | null = null,
  ) {
    for (const op of this.loadPending()) this.pending.push({ op, resolve: () => {} });
    socket.on('connect', () => {
      this.connected = true;
      void this.join();
    });
    socket.on('disconnect', (reason) => {
      this.connected = false;
      this.interrupt();
      // A server that shut down cleanly says so; come back when it does, as after any drop, unless
      // it ended this session for me first.
      if (reason === 'io server disconnect' && this.ended === null)
        setTimeout(() => {
          if (this.ended === null) socket.connect();
        }, 500);
      this.changed();
    });
    socket.on('kicked', (k) => {
      this.ended = k.message || k.code;
      this.changed();
    });
    socket.on('closed', () => {
      this.ended = 'the host closed the session';
      this.changed();
    });
    socket.on('snapshot', (part) => this.receivePart(part));
    socket.on('op', (op) => {
      if (this.held) return void this.held.push(op);
      this.applyRemote(op);
      this.changed();
    });
    socket.on('presence', (p) => {
      this.participants = p;
      this.changed();
    });
    socket.on('chat', (m) => {
      this.chat = [...this.chat, m];
      this.changed();
    });
    socket.on('opinion', (o) => {
      this.opinions = [...this.opinions, o];
      this.changed();
    });
    if (socket.connected) {
      this.connected = true;
      void this.join();
    }
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /**
   * Resolves with the first join's result (later rejoins happen by themselves); a join cut short by
   * a dropped connection does not count, the one after the reconnection does.
   */
  ready(): Promise<JoinResult> {
    return new Promise((resolve) => {
      const check = (): void => {
        void this.joined?.then((r) => {
          if (!r.ok && r.code === 'INTERRUPTED') return;
          off();
          resolve(r);
        });
      };
      const off = this.onChange(check);
      check();
    });
  }

  private join(): Promise<JoinResult> {
    this.interrupt();
    const held: AppliedOp[] = [];
    this.held = held;
    const p = new Promise<JoinResult>((resolve) => {
      const fail = (code: string, message: string): void => {
        if (this.held === held) this.held = null;
        resolve({ ok: false, code, message });
        this.changed();
      };
      this.socket.emit(
        'join',
        { protocolVersion: REVIEW_PROTOCOL_VERSION, sessionId: this.sessionId },
        (r) => {
          if (!r.ok) return fail(r.code, r.message);
          this.receive(r.state.annotations)
            .then(decodeAnnotations)
            .then(
              (list) => {
                if (this.held === held) this.held = null;
                this.session = r.state.session;
                this.lastReplay = r.replay.length;
                // The snapshot comes in no particular order; the list shows the oldest first.
                list.sort(byCreation);
                this.confirmed = new Map(list.map((a) => [a.id, a]));
                this.seqOf = new Map();
                this.seq = Math.max(this.seq, r.state.seq);
                // What came while the snapshot travelled: already in it up to its seq.
                for (const op of [...r.replay, ...held.filter((o) => o.seq > r.state.seq)])
                  this.applyRemote(op);
                this.participants = r.state.participants;
                this.chat = r.state.chat;
                this.opinions = r.state.opinions;
                // What I did while away goes out now, in order; resends of delivered ops are recognised.
                for (const p of this.pending) this.send(p.op, p.resolve, false);
                resolve(r);
                this.changed();
              },
              (e: unknown) =>
                e instanceof Interrupted
                  ? fail('INTERRUPTED', 'the connection dropped during the join; joining again')
                  : fail('INTERNAL', 'the session state could not be read'),
            );
        },
      );
    });
    this.joined = p;
    this.changed();
    return p;
  }

  /** The snapshot `ref` announces, once all its parts are here. */
  private receive(ref: SnapshotRef): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.incoming = {
        ref,
        parts: [],
        got: 0,
        done: (bytes) => (bytes ? resolve(bytes) : reject(new Interrupted())),
      };
    });
  }

  private receivePart(part: SnapshotPart): void {
    const i = this.incoming;
    if (!i || part.transfer !== i.ref.transfer || i.parts[part.index]) return;
    i.parts[part.index] = part.data instanceof Uint8Array ? part.data : new Uint8Array(part.data);
    if (++i.got < i.ref.parts) return;
    this.incoming = null;
    const bytes = new Uint8Array(i.ref.bytes);
    let at = 0;
    for (const b of i.parts) {
      bytes.set(b, at);
      at += b.byteLength;
    }
    i.done(bytes);
  }

  /** Ends the snapshot transfer under way (a drop, or a new join): its join answers INTERRUPTED. */
  private interrupt(): void {
    const i = this.incoming;
    this.incoming = null;
    i?.done(null);
  }

  private applyRemote(op: AppliedOp): void {
    const held = this.seqOf.get(op.annotationId) ?? 0;
    if (op.seq <= held) return;
    this.seqOf.set(op.annotationId, op.seq);
    this.seq = Math.max(this.seq, op.seq);
    if (op.annotation) this.confirmed.set(op.annotationId, op.annotation);
    else this.confirmed.delete(op.annotationId);
  }

  /** The server's annotations with my unacknowledged changes on top, oldest first. */
  annotations(): AnnotationDto[] {
    const view = new Map(this.confirmed);
    for (const { op } of this.pending) {
      if (op.type === 'create')
        view.set(op.annotation.id, {
          ...op.annotation,
          slideId: this.session?.slideId ?? '',
          authorId: '',
          authorName: 'me',
          createdAt: '',
          updatedAt: '',
          version: 0,
          comments: [],
        });
      else if (op.type === 'update') {
        const a = view.get(op.id);
        if (a) view.set(op.id, { ...a, ...op.patch });
      } else if (op.type === 'delete') view.delete(op.id);
    }
    return [...view.values()];
  }

  get(id: string): AnnotationDto | undefined {
    return this.annotations().find((a) => a.id === id);
  }

  private get storageKey(): string {
    return `tessera.review.pending.${this.sessionId}`;
  }

  private loadPending(): Operation[] {
    try {
      const raw = this.storage?.getItem(this.storageKey);
      const ops = raw ? (JSON.parse(raw) as unknown) : [];
      return Array.isArray(ops) ? (ops as Operation[]) : [];
    } catch {
      return [];
    }
  }

  private savePending(): void {
    if (!this.storage) return;
    try {
      if (this.pending.length === 0) this.storage.removeItem(this.storageKey);
      else this.storage.setItem(this.storageKey, JSON.stringify(this.pending.map((p) => p.op)));
    } catch {
      // Storage full or refused: the changes still go out while this page lives.
    }
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  private send(op: Operation, resolve: (r: OpResult) => void, queue = true): void {
    if (queue) {
      this.pending.push({ op, resolve });
      this.savePending();
    }
    if (!this.connected) return;
    this.socket.emit('op', op, (r) => {
      const i = this.pending.findIndex((p) => p.op.opId === op.opId);
      if (i < 0) return; // answered already (a resend)
      this.pending.splice(i, 1);
      this.savePending();
      const id = op.type === 'create' ? op.annotation.id : op.id;
      if (r.ok) {
        this.myVersion.set(id, r.version);
        this.applyRemote({
          seq: r.seq,
          opId: op.opId,
          slideId: this.session?.slideId ?? '',
          type: op.type,
          annotationId: id,
          userId: '',
          version: r.version,
          annotation: r.annotation,
          at: '',
        });
      }
      resolve(r);
      this.changed();
    });
  }

  /** Send one operation; resolves with the server's answer (after a reconnect if need be). */
  submit(op: Operation): Promise<OpResult> {
    return new Promise((resolve) => {
      this.send(op, resolve);
      this.changed();
    });
  }

  // ---- my changes, with history ----

  async create(
    a: Omit<Extract<Operation, { type: 'create' }>['annotation'], 'id'>,
  ): Promise<OpResult & { id: string }> {
    const id = newId();
    const r = await this.submit({ type: 'create', opId: newId(), annotation: { ...a, id } });
    if (r.ok) this.record({ annotationId: id, version: r.version, ...this.deleteEntry(id, a) });
    return { ...r, id };
  }

  async update(id: string, patch: AnnotationPatch): Promise<OpResult> {
    const before = this.confirmed.get(id);
    const r = await this.submit({ type: 'update', opId: newId(), id, patch });
    if (r.ok && before) {
      const old: AnnotationPatch = {};
      for (const k of Object.keys(patch) as (keyof AnnotationPatch)[])
        (old as Record<string, unknown>)[k] = before[k];
      this.record({ annotationId: id, version: r.version, ...this.patchEntry(id, old, patch) });
    }
    return r;
  }

  async remove(id: string): Promise<OpResult> {
    const before = this.confirmed.get(id);
    const r = await this.submit({ type: 'delete', opId: newId(), id });
    if (r.ok && before) this.record({ annotationId: id, version: r.version, ...this.restoreEntry(id) });
    return r;
  }

  comment(id: string, text: string): Promise<OpResult> {
    return this.submit({ type: 'comment', opId: newId(), id, text });
  }

  private record(e: HistoryEntry): void {
    this.undoStack.push(e);
    this.redoStack = [];
    if (this.undoStack.length > 200) this.undoStack.shift();
  }

  private deleteEntry(
    id: string,
    a: Omit<Extract<Operation, { type: 'create' }>['annotation'], 'id'>,
  ): Omit<HistoryEntry, 'annotationId' | 'version'> {
    return {
      make: (version) => ({ type: 'delete', opId: newId(), id, ifVersion: version }),
      inverse: () => ({ annotationId: id, ...this.restoreEntry(id, a) }),
    };
  }

  private restoreEntry(
    id: string,
    a?: Omit<Extract<Operation, { type: 'create' }>['annotation'], 'id'>,
  ): Omit<HistoryEntry, 'annotationId' | 'version'> {
    return {
      make: (version) => ({ type: 'restore', opId: newId(), id, ifVersion: version }),
      inverse: () => ({
        annotationId: id,
        make: (version) => ({ type: 'delete', opId: newId(), id, ifVersion: version }),
        inverse: () => ({ annotationId: id, ...this.restoreEntry(id, a) }),
      }),
    };
  }

  private patchEntry(
    id: string,
    back: AnnotationPatch,
    forward: AnnotationPatch,
  ): Omit<HistoryEntry, 'annotationId' | 'version'> {
    return {
      make: (version) => ({ type: 'update', opId: newId(), id, patch: back, ifVersion: version }),
      inverse: () => ({ annotationId: id, ...this.patchEntry(id, forward, back) }),
    };
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /**
   * Take back my last change. Refused (CONFLICT) when someone else changed that annotation since:
   * the entry is dropped, never forced over their edit.
   */
  undo(): Promise<OpResult | null> {
    return this.step(this.undoStack, this.redoStack);
  }

  redo(): Promise<OpResult | null> {
    return this.step(this.redoStack, this.undoStack);
  }

  private async step(from: HistoryEntry[], to: HistoryEntry[]): Promise<OpResult | null> {
    const e = from.pop();
    if (!e) return null;
    const r = await this.submit(e.make(this.myVersion.get(e.annotationId) ?? e.version));
    if (r.ok) to.push({ ...e.inverse(), version: r.version });
    this.changed();
    return r;
  }

  // ---- the rest of the room ----

  say(text: string): Promise<{ ok: boolean; message?: string }> {
    return new Promise((resolve) => {
      this.socket.emit('chat', { text }, (r) => {
        if (r.ok) {
          this.chat = [...this.chat, r.message];
          this.changed();
          resolve({ ok: true });
        } else resolve({ ok: false, message: r.message });
      });
    });
  }

  /** A second opinion (invited reviewers only; the server refuses the host's). */
  giveOpinion(o: OpinionRequest): Promise<{ ok: boolean; message?: string }> {
    return new Promise((resolve) => {
      this.socket.emit('opinion', o, (r) => {
        if (r.ok) {
          this.opinions = [...this.opinions, r.opinion];
          this.changed();
          resolve({ ok: true });
        } else resolve({ ok: false, message: r.message });
      });
    });
  }
}
