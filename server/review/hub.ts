import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { ZodType } from 'zod';
import {
  AiWatchSchema,
  type AppliedOp,
  ChatSchema,
  type ClientToServerEvents,
  CursorSchema,
  JoinSchema,
  OperationSchema,
  OpinionRequestSchema,
  PARTICIPANT_COLORS,
  type Participant,
  type ReviewSessionDto,
  type ServerToClientEvents,
  ViewSchema,
} from '../../protocol/index.ts';
import type { Principal } from '../auth/auth.ts';
import type { SlideGrant } from '../auth/access.ts';
import type { ServerContext } from '../context.ts';
import { crossSiteWithCookie } from '../http/auth.ts';
import { AnnotationService } from './annotations.ts';
import { standings } from './recheck.ts';
import { moderates } from './rights.ts';
import { AnnotationSnapshots } from './snapshots.ts';
import { SnapshotSender } from './snapshot-sender.ts';
import { presentSession } from './present.ts';
import { SessionRepo } from './sessions.ts';
import { validate } from '../http/errors.ts';
import type { ReviewSessionsTable } from '../db/schema.ts';
import { runDto, slideResultOf } from '../ai/runs.ts';

interface SocketData {
  principal: Principal;
  sessionId?: string;
  slideId?: string;
  /** The hosting site of the joined session: whose annotations of the slide it works on. */
  siteId?: string | null;
  host?: boolean;
  /** The room of the AI runs this connection hears of (aiWatch). */
  aiRoom?: string;
}

type IO = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type Sock = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type Refusal = { ok: false; code: string; message: string };

/** Largest message accepted; a bigger one closes the connection (socket.io's own limit). */
export const MAX_MESSAGE_BYTES = 1_000_000;
/**
 * How often every open socket's credential, session and access are re-checked against the database.
 * Changes made through a server process (and, with Redis, anywhere) take effect at once through
 * ctx.rights; this catches what comes without a notice: the command line without Redis, a session or
 * share reaching its expiry.
 */
export const RECHECK_MS = 500;
/** How long a session's status read for cursors and views is trusted (a close also clears it). */
const SESSION_STATUS_MS = 1_000;

/**
 * Presence changes of one session are sent together, at most once in this interval: a crowd joining
 * or leaving at once (a teaching session, a reconnect after a network drop) costs one list per
 * interval instead of one per socket sent to every socket.
 */
const PRESENCE_MS = 100;

const refuse = (code: string, message: string): Refusal => ({ ok: false, code, message });
const sessionRoom = (id: string): string => `s:${id}`;
/** Every connection of one user: their inbox changes are pushed there. */
const userRoom = (id: string): string => `u:${id}`;
/** Everyone working on one site's annotations of a slide (see AnnotationScope). */
const slideRoom = (id: string, siteId: string | null): string => `a:${id}:${siteId ?? ''}`;
/** Connections watching one slide's AI runs; AI_LIBRARY_ROOM: those watching every slide they see. */
const aiSlideRoom = (id: string): string => `ai:${id}`;
const AI_LIBRARY_ROOM = 'ai:*';

function parse<T>(schema: ZodType<T>, v: unknown): { ok: true; data: T } | Refusal {
  const r = validate(schema, v);
  return r.ok ? r : refuse('INVALID_PARAMETER', r.message);
}

/** Who the handshake belongs to: the session cookie, or `auth: { token }` from scripts and tests. */
function handshakeRequest(socket: Sock): IncomingMessage {
  const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
  if (typeof token === 'string' && token.length > 0) {
    return { headers: { authorization: `Bearer ${token}` } } as unknown as IncomingMessage;
  }
  return socket.request;
}

/**
 * Live review sessions over socket.io. Every event is validated against protocol/review.ts and
 * checked against the sender's current rights (sign-in, slide access, session membership) before it
 * does anything. Annotation changes go through AnnotationService: stored, then acknowledged, then
 * sent to everyone else on the slide.
 */
export class ReviewHub {
  readonly annotations: AnnotationService;
  readonly sessions: SessionRepo;
  private readonly snapshots: AnnotationSnapshots;
  private io: IO | null = null;
  /** Sessions whose presence list goes out at the end of the current PRESENCE_MS. */
  private readonly presencePending = new Map<string, NodeJS.Timeout>();
  /** The last turn handed out by nextTurn(). */
  private turns: Promise<void> = Promise.resolve();
  /** Join snapshots on their way out, paced. */
  private readonly snapshotSender = new SnapshotSender();
  private stopRechecks: (() => void) | null = null;
  /** A re-check of every socket is running; `again` asks for one more when it ends. */
  private sweeping: Promise<void> | null = null;
  private again = false;
  private readonly sessionStatus = new Map<string, { row: ReviewSessionsTable | null; until: number }>();

  constructor(private readonly ctx: ServerContext) {
    this.annotations = new AnnotationService(ctx.db);
    this.sessions = new SessionRepo(ctx.db);
    this.snapshots = new AnnotationSnapshots(this.annotations);
  }

  /**
   * Attach to an HTTP server; `adapter` is socket.io's Redis streams adapter when configured.
   * `recheckMs` sets the periodic re-check (tests lengthen it to show a notice alone suffices).
   */
  attach(server: HttpServer, adapter?: Parameters<IO['adapter']>[0], opts: { recheckMs?: number } = {}): IO {
    const io: IO = new Server(server, {
      path: '/socket.io',
      serveClient: false,
      maxHttpBufferSize: MAX_MESSAGE_BYTES,
      // Only our own pages (same origin) may open a session with the cookie.
      cors: { origin: false },
      ...(adapter ? { adapter } : {}),
    });
    io.use((socket, next) => {
      const req = handshakeRequest(socket);
      // As for REST writes: the cookie is good only from our own pages; scripts bring a token.
      if (crossSiteWithCookie(req)) return next(new Error('FORBIDDEN'));
      this.ctx.auth.resolve(req).then(
        (p) => {
          if (!p) return next(new Error('UNAUTHENTICATED'));
          socket.data.principal = p;
          next();
        },
        () => next(new Error('INTERNAL')),
      );
    });
    io.on('connection', (socket) => this.connected(socket));
    this.io = io;
    const off = this.ctx.rights.on(() => {
      this.sessionStatus.clear();
      void this.recheckAll();
    });
    const timer = setInterval(() => void this.recheckAll(), opts.recheckMs ?? RECHECK_MS);
    timer.unref();
    this.stopRechecks = () => {
      off();
      clearInterval(timer);
    };
    return io;
  }

  /**
   * Re-check every socket of this process in one batch (see recheck.ts); a socket whose rights ended
   * is told why, leaves its rooms and is disconnected, so it receives nothing more. Calls while one
   * runs are folded into a single next run.
   */
  recheckAll(): Promise<void> {
    if (this.sweeping) {
      this.again = true;
      return this.sweeping;
    }
    const run = async (): Promise<void> => {
      // Always after this call has set `sweeping`, so that the run's end below clears it.
      await Promise.resolve();
      try {
        do {
          this.again = false;
          const io = this.io;
          if (!io) return;
          const sockets = [...io.of('/').sockets.values()].filter((s) => s.data.principal);
          if (sockets.length === 0) continue;
          const asked = sockets.map((s) => ({ ...s.data }));
          const now = await standings(this.ctx, asked);
          let kicked = false;
          for (const [i, s] of sockets.entries()) {
            const st = now[i]!;
            // A socket that joined or left a session meanwhile was checked afresh by that event; the
            // answer is about a session it no longer holds.
            if (s.data.sessionId !== asked[i]!.sessionId || s.data.slideId !== asked[i]!.slideId) {
              this.again = true;
              continue;
            }
            if (st.ok) s.data.principal = st.principal;
            else if (s.connected) {
              kicked = true;
              await this.kick(s, refuse(st.code, st.message));
            }
          }
          // What ended without a notice (another process, an expiry) may still be cached here.
          if (kicked) {
            this.ctx.auth.forgetAll();
            this.ctx.access.forgetAll();
          }
        } while (this.again);
      } finally {
        // In the same step as the last look at `again`, so a call after it starts a run of its own.
        // (Cleared in a later callback, a notice arriving in between was folded into a run that had
        // already ended, and its socket was closed only by the next periodic re-check.)
        this.sweeping = null;
      }
    };
    this.sweeping = run().catch((e: unknown) =>
      this.ctx.log(`review re-check failed: ${e instanceof Error ? e.message : String(e)}`),
    );
    return this.sweeping;
  }

  /** End a socket whose rights ended: tell it why, take it out of its rooms, disconnect it. */
  private async kick(socket: Sock, why: Refusal): Promise<void> {
    socket.emit('kicked', { code: why.code, message: why.message });
    await this.leave(socket);
    socket.disconnect(true);
  }

  /** Send an operation applied elsewhere (REST import) to every client on that site's set of its slide. */
  broadcast(op: AppliedOp, siteId: string | null, except?: Sock): void {
    if (!this.io) return;
    if (except) except.to(slideRoom(op.slideId, siteId)).emit('op', op);
    else this.io.to(slideRoom(op.slideId, siteId)).emit('op', op);
  }

  /** Tell a closed session's participants, then disconnect them (on every process, through the adapter). */
  closed(sessionId: string): void {
    this.sessionStatus.delete(sessionId);
    this.io?.to(sessionRoom(sessionId)).emit('closed', { sessionId });
    this.io?.in(sessionRoom(sessionId)).disconnectSockets(true);
  }

  async close(): Promise<void> {
    this.stopRechecks?.();
    this.stopRechecks = null;
    for (const t of this.presencePending.values()) clearTimeout(t);
    this.presencePending.clear();
    if (!this.io) return;
    const io = this.io;
    this.io = null;
    await this.sweeping;
    // Connections drop as in a restart (clients reconnect and catch up), not as a dismissal.
    await new Promise<void>((r) => {
      void io.close(() => r());
    });
  }

  /**
   * Who the socket's credential belongs to now (cached a few seconds; a notice clears the cache),
   * or null once it was signed out, revoked, expired or its user disabled.
   */
  private async identity(socket: Sock): Promise<Principal | null> {
    const p = await this.ctx.auth.resolve(handshakeRequest(socket));
    if (!p || p.user.id !== socket.data.principal.user.id) return null;
    socket.data.principal = p;
    return p;
  }

  /** A session's row; for cursors and views (many a second) a read of the last second will do. */
  private async sessionRow(id: string, fresh: boolean): Promise<ReviewSessionsTable | null> {
    const hit = this.sessionStatus.get(id);
    if (!fresh && hit && hit.until > Date.now()) return hit.row;
    const row = await this.sessions.row(id);
    if (this.sessionStatus.size > 10_000) this.sessionStatus.clear();
    this.sessionStatus.set(id, { row, until: Date.now() + SESSION_STATUS_MS });
    return row;
  }

  /**
   * The sender's rights now: still signed in, still in an open session, still able to see the slide.
   * Every event passes here; the session's row alone is read (status), not its invitation list.
   */
  private async recheck(
    socket: Sock,
    fresh = true,
  ): Promise<
    | {
        ok: true;
        session: { id: string; slideId: string; hostId: string; siteId: string | null };
        p: Principal;
        grant: SlideGrant;
      }
    | Refusal
  > {
    const { sessionId, slideId } = socket.data;
    if (!sessionId || !slideId) return refuse('NOT_JOINED', 'join a session first');
    const p = await this.identity(socket);
    if (!p) return refuse('UNAUTHENTICATED', 'signed out');
    const row = await this.sessionRow(sessionId, fresh);
    if (!row || row.status !== 'open') return refuse('SESSION_CLOSED', 'the session is closed');
    const grant = await this.ctx.access.grant(p, slideId);
    if (!grant) return refuse('FORBIDDEN', 'your access to this slide has ended');
    return {
      ok: true,
      session: { id: row.id, slideId: row.slide_id, hostId: row.host_id, siteId: row.site_id },
      p,
      grant,
    };
  }

  /**
   * Answer a refusal. One that says the sender's rights ended also ends the connection, after the
   * answer has gone out.
   */
  private async deny(socket: Sock, why: Refusal, ack: (r: Refusal) => void = () => {}): Promise<void> {
    ack(why);
    if (why.code === 'UNAUTHENTICATED' || why.code === 'SESSION_CLOSED' || why.code === 'FORBIDDEN')
      await this.kick(socket, why);
  }

  /** Tell a user's open connections that their inbox changed (they read it again over HTTP). */
  notifyInbox(userId: string): void {
    this.io?.to(userRoom(userId)).emit('inbox', { changed: true });
  }

  /**
   * An AI run ended: tell the connections watching its slide or the library, each only if its user
   * may see the run now (as GET /api/ai/runs/{id}: the slide through the run's site, or an
   * administrator) and the algorithm is enabled. Through the adapter, on every node.
   */
  async aiRunEnded(runId: string): Promise<void> {
    const io = this.io;
    if (!io) return;
    const run = await this.ctx.ai.runs.get(runId);
    if (!run || run.algorithm_enabled === 0 || (run.state !== 'done' && run.state !== 'failed')) return;
    const sockets = await io.in([aiSlideRoom(run.slide_id), AI_LIBRARY_ROOM]).fetchSockets();
    if (sockets.length === 0) return;
    const event = { run: runDto(run), result: run.state === 'done' ? slideResultOf(run) : null };
    await Promise.all(
      sockets.map(async (s) => {
        const p = s.data.principal;
        const sees = await this.ctx.ai.visibleRun(p, runId).then(
          () => true,
          () => false,
        );
        if (sees) s.emit('aiRun', event);
      }),
    );
  }

  private connected(socket: Sock): void {
    void socket.join(userRoom(socket.data.principal.user.id));
    const on = <A extends unknown[]>(event: string, fn: (...args: A) => Promise<void>): void => {
      socket.on(
        event as 'leave',
        ((...args: A) => {
          fn(...args).catch((e: unknown) => {
            this.ctx.log(`review ${event} failed: ${e instanceof Error ? e.message : String(e)}`);
            const ack = args.at(-1);
            if (typeof ack === 'function')
              (ack as (r: Refusal) => void)(refuse('INTERNAL', 'internal error'));
          });
        }) as never,
      );
    };
    const ackOf = (a: unknown): ((r: unknown) => void) =>
      typeof a === 'function' ? (a as (r: unknown) => void) : () => {};

    on('join', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const req = parse(JoinSchema, raw);
      if (!req.ok) return ack(req);
      // One join per turn of the event loop: a crowd's joins arrive in one read and their queries
      // (synchronous with SQLite) would otherwise all run before any other request.
      await this.nextTurn();
      const p = await this.identity(socket);
      if (!p) return this.deny(socket, refuse('UNAUTHENTICATED', 'signed out'), ack);
      const session = await this.sessions.get(req.data.sessionId);
      if (!session) return ack(refuse('NOT_FOUND', 'no such session'));
      const host = session.hostId === p.user.id;
      const member = host || p.user.role === 'admin' || session.invited.some((i) => i.userId === p.user.id);
      if (!member) return ack(refuse('NOT_INVITED', 'You are not invited to this review'));
      if (session.status !== 'open') return ack(refuse('SESSION_CLOSED', 'the session is closed'));
      const grant = await this.ctx.access.grant(p, session.slideId);
      if (!grant) return ack(refuse('FORBIDDEN', 'you have no access to this slide'));
      if (socket.data.sessionId && socket.data.sessionId !== session.id) await this.leave(socket);
      socket.data.sessionId = session.id;
      socket.data.slideId = session.slideId;
      const siteId = (await this.sessions.row(session.id))?.site_id ?? null;
      socket.data.siteId = siteId;
      socket.data.host = host;
      // In the room before the snapshot is read: every later operation reaches this socket.
      await socket.join([sessionRoom(session.id), slideRoom(session.slideId, siteId)]);
      const [{ snapshot, replay }, chat, opinions, participants] = await Promise.all([
        this.snapshots.get({ slideId: session.slideId, siteId }),
        this.sessions.chat(session.id),
        this.sessions.opinions(session.id),
        this.participants(session),
      ]);
      const ref = this.snapshotSender.prepare(socket, snapshot.bytes);
      ack({
        ok: true,
        state: {
          session: presentSession(session, grant),
          seq: snapshot.seq,
          annotations: ref,
          participants,
          chat,
          opinions,
        },
        replay,
      });
      this.presenceSoon(session.id);
      await this.snapshotSender.send(socket, ref, snapshot.bytes);
    });

    on('aiWatch', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const w = parse(AiWatchSchema, raw);
      if (!w.ok) return ack(w);
      const p = await this.identity(socket);
      if (!p) return this.deny(socket, refuse('UNAUTHENTICATED', 'signed out'), ack);
      if (w.data.slideId !== null && !(await this.ctx.access.grant(p, w.data.slideId)))
        return ack(refuse('NOT_FOUND', `no slide ${w.data.slideId}`));
      const room = w.data.slideId === null ? AI_LIBRARY_ROOM : aiSlideRoom(w.data.slideId);
      if (socket.data.aiRoom && socket.data.aiRoom !== room) await socket.leave(socket.data.aiRoom);
      socket.data.aiRoom = room;
      await socket.join(room);
      ack({ ok: true });
    });

    on('leave', async () => {
      await this.leave(socket);
    });

    on('op', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const op = parse(OperationSchema, raw);
      if (!op.ok) return ack(op);
      const c = await this.recheck(socket);
      if (!c.ok) return this.deny(socket, c, ack);
      const { p, grant } = c;
      const slideId = c.session.slideId;
      const scope = { slideId, siteId: c.session.siteId };
      const { result, applied } = await this.annotations.tryApply(scope, op.data, {
        id: p.user.id,
        name: p.user.displayName,
        moderator: moderates(p, grant, c.session.hostId),
      });
      ack(result);
      if (!applied) return;
      this.broadcast(applied, scope.siteId, socket);
      await this.ctx.audit.record({
        action: `annotation.${applied.type}`,
        actor: p.user,
        targetType: 'annotation',
        targetId: applied.annotationId,
        // The hosting owner site: its lab manager reads the trail of what was done to its slides.
        targetSiteId: c.session.siteId ?? grant.siteId,
        detail: { slide: slideId, seq: applied.seq, session: c.session.id },
        ip: socket.handshake.address,
      });
    });

    on('cursor', async (raw: unknown) => {
      const c = parse(CursorSchema, raw);
      if (!c.ok) return;
      const r = await this.recheck(socket, false);
      if (!r.ok) return this.deny(socket, r);
      const userId = r.p.user.id;
      socket.volatile
        .to(sessionRoom(r.session.id))
        .emit('cursor', c.data ? { userId, x: c.data.x, y: c.data.y } : { userId, gone: true });
    });

    on('view', async (raw: unknown) => {
      const v = parse(ViewSchema, raw);
      if (!v.ok) return;
      const r = await this.recheck(socket, false);
      if (!r.ok) return this.deny(socket, r);
      socket.volatile.to(sessionRoom(r.session.id)).emit('view', { userId: r.p.user.id, view: v.data });
    });

    on('summon', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const v = parse(ViewSchema, raw);
      if (!v.ok) return ack(v);
      const c = await this.recheck(socket);
      if (!c.ok) return this.deny(socket, c, ack);
      if (!socket.data.host) return ack(refuse('FORBIDDEN', 'only the host brings everyone to their view'));
      socket.to(sessionRoom(c.session.id)).emit('summon', { userId: c.p.user.id, view: v.data });
      ack({ ok: true });
    });

    on('chat', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const m = parse(ChatSchema, raw);
      if (!m.ok) return ack(m);
      const c = await this.recheck(socket);
      if (!c.ok) return this.deny(socket, c, ack);
      const message = await this.sessions.addChat(
        c.session.id,
        { id: c.p.user.id, name: c.p.user.displayName },
        m.data.text,
      );
      ack({ ok: true, message });
      socket.to(sessionRoom(c.session.id)).emit('chat', message);
    });

    on('opinion', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const o = parse(OpinionRequestSchema, raw);
      if (!o.ok) return ack(o);
      const c = await this.recheck(socket);
      if (!c.ok) return this.deny(socket, c, ack);
      if (socket.data.host)
        return ack(refuse('FORBIDDEN', 'the second opinion comes from an invited reviewer, not the host'));
      const opinion = await this.sessions.addOpinion(
        { id: c.session.id, slideId: c.session.slideId },
        { id: c.p.user.id, name: c.p.user.displayName },
        o.data,
      );
      await this.ctx.audit.record({
        action: 'opinion.submit',
        actor: c.p.user,
        targetType: 'session',
        targetId: c.session.id,
        targetSiteId: c.grant.siteId,
        detail: { slide: c.session.slideId, opinion: opinion.id },
        ip: socket.handshake.address,
      });
      // A routed second-opinion request is answered once its reviewer gives an opinion.
      await this.ctx.db
        .updateTable('second_opinions')
        .set({ status: 'answered' })
        .where('session_id', '=', c.session.id)
        .where('specialist_id', '=', c.p.user.id)
        .execute();
      ack({ ok: true, opinion });
      socket.to(sessionRoom(c.session.id)).emit('opinion', opinion);
    });

    socket.on('disconnect', () => {
      this.left(socket.data.sessionId);
    });
  }

  private async leave(socket: Sock): Promise<void> {
    const { sessionId, slideId, siteId } = socket.data;
    if (!sessionId) return;
    delete socket.data.sessionId;
    delete socket.data.slideId;
    delete socket.data.siteId;
    delete socket.data.host;
    await socket.leave(sessionRoom(sessionId));
    if (slideId) await socket.leave(slideRoom(slideId, siteId ?? null));
    this.left(sessionId);
  }

  private left(sessionId: string | undefined): void {
    if (!sessionId || !this.io) return;
    // The next presence list shows them offline, and clients drop an offline participant's cursor
    // and view with it: one list for a crowd leaving at once, not one message per leaver to everyone.
    this.presenceSoon(sessionId);
  }

  /**
   * Resolves on a turn of the event loop of its own, one caller per turn. Join answers carry the
   * snapshot: a crowd waiting on the same snapshot was answered in one tick, copying hundreds of
   * megabytes into socket buffers before any other request could run.
   */
  private nextTurn(): Promise<void> {
    const turn = this.turns.then(() => new Promise<void>((r) => setImmediate(r)));
    this.turns = turn;
    return turn;
  }

  private presenceSoon(sessionId: string): void {
    if (this.presencePending.has(sessionId)) return;
    const t = setTimeout(() => {
      this.presencePending.delete(sessionId);
      this.sendPresence(sessionId).catch((e: unknown) =>
        this.ctx.log(`review presence failed: ${e instanceof Error ? e.message : String(e)}`),
      );
    }, PRESENCE_MS);
    t.unref();
    this.presencePending.set(sessionId, t);
  }

  private async sendPresence(sessionId: string): Promise<void> {
    if (!this.io) return;
    const session = await this.sessions.get(sessionId);
    if (session && this.io)
      this.io.to(sessionRoom(sessionId)).emit('presence', await this.participants(session));
  }

  /** Host, then invited users in invitation order (each with a fixed colour), and who is online. */
  async participants(session: ReviewSessionDto): Promise<Participant[]> {
    const sockets = this.io ? await this.io.in(sessionRoom(session.id)).fetchSockets() : [];
    const online = new Map<string, SocketData['principal']['user']>();
    for (const s of sockets) online.set(s.data.principal.user.id, s.data.principal.user);
    const users = await this.ctx.db
      .selectFrom('users')
      .innerJoin('sites', 'sites.id', 'users.site_id')
      .select(['users.id', 'users.display_name', 'users.role', 'sites.name as site_name'])
      .where('users.id', 'in', [session.hostId, ...session.invited.map((i) => i.userId), ...online.keys()])
      .execute();
    const byId = new Map(users.map((u) => [u.id, u]));
    const order = [...new Set([session.hostId, ...session.invited.map((i) => i.userId), ...online.keys()])];
    return order.flatMap((id, i) => {
      const u = byId.get(id);
      if (!u) return [];
      return [
        {
          userId: id,
          name: u.display_name,
          siteName: u.site_name,
          role: u.role,
          host: id === session.hostId,
          color: PARTICIPANT_COLORS[i % PARTICIPANT_COLORS.length]!,
          online: online.has(id),
        },
      ];
    });
  }
}
