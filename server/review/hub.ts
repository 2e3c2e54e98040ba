import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { ZodType } from 'zod';
import {
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
import type { ServerContext } from '../context.ts';
import { AnnotationService } from './annotations.ts';
import { presentSession } from './present.ts';
import { SessionRepo } from './sessions.ts';
import { validate } from '../http/errors.ts';

interface SocketData {
  principal: Principal;
  sessionId?: string;
  slideId?: string;
  host?: boolean;
}

type IO = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type Sock = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type Refusal = { ok: false; code: string; message: string };

/** Largest message accepted; a bigger one closes the connection (socket.io's own limit). */
export const MAX_MESSAGE_BYTES = 1_000_000;

const refuse = (code: string, message: string): Refusal => ({ ok: false, code, message });
const sessionRoom = (id: string): string => `s:${id}`;
const slideRoom = (id: string): string => `a:${id}`;

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
  private io: IO | null = null;

  constructor(private readonly ctx: ServerContext) {
    this.annotations = new AnnotationService(ctx.db);
    this.sessions = new SessionRepo(ctx.db);
  }

  /** Attach to an HTTP server; `adapter` is socket.io's Redis streams adapter when configured. */
  attach(server: HttpServer, adapter?: Parameters<IO['adapter']>[0]): IO {
    const io: IO = new Server(server, {
      path: '/socket.io',
      serveClient: false,
      maxHttpBufferSize: MAX_MESSAGE_BYTES,
      // Only our own pages (same origin) may open a session with the cookie.
      cors: { origin: false },
      ...(adapter ? { adapter } : {}),
    });
    io.use((socket, next) => {
      this.ctx.auth.resolve(handshakeRequest(socket)).then(
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
    return io;
  }

  /** Send an operation applied elsewhere (REST import) to every client on its slide. */
  broadcast(op: AppliedOp, except?: Sock): void {
    if (!this.io) return;
    if (except) except.to(slideRoom(op.slideId)).emit('op', op);
    else this.io.to(slideRoom(op.slideId)).emit('op', op);
  }

  /** Tell a closed session's participants and drop them from its room. */
  closed(sessionId: string): void {
    this.io?.to(sessionRoom(sessionId)).emit('closed', { sessionId });
    this.io?.in(sessionRoom(sessionId)).socketsLeave(sessionRoom(sessionId));
  }

  async close(): Promise<void> {
    if (!this.io) return;
    const io = this.io;
    this.io = null;
    // Connections drop as in a restart (clients reconnect and catch up), not as a dismissal.
    await new Promise<void>((r) => {
      void io.close(() => r());
    });
  }

  /**
   * The sender's rights now: still signed in, still able to see the slide, still in an open
   * session. A refusal here also ends the socket's membership.
   */
  private async recheck(
    socket: Sock,
  ): Promise<{ session: { id: string; slideId: string }; p: Principal } | Refusal> {
    const { sessionId, slideId } = socket.data;
    if (!sessionId || !slideId) return refuse('NOT_JOINED', 'join a session first');
    const p = await this.ctx.auth.resolve(handshakeRequest(socket));
    // Every event passes here: the session's row alone (status), not its invitation list.
    const row = await this.sessions.row(sessionId);
    const session = row ? { id: row.id, slideId: row.slide_id, status: row.status } : null;
    const why =
      !p || p.user.id !== socket.data.principal.user.id
        ? refuse('UNAUTHENTICATED', 'signed out')
        : !session || session.status !== 'open'
          ? refuse('SESSION_CLOSED', 'the session is closed')
          : !(await this.ctx.access.grant(p, slideId))
            ? refuse('FORBIDDEN', 'your access to this slide has ended')
            : null;
    if (why || !p || !session) {
      socket.emit('kicked', { code: why!.code, message: why!.message });
      await this.leave(socket);
      return why!;
    }
    return { session, p };
  }

  private connected(socket: Sock): void {
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
      const p = socket.data.principal;
      const session = await this.sessions.get(req.data.sessionId);
      if (!session) return ack(refuse('NOT_FOUND', 'no such session'));
      const host = session.hostId === p.user.id;
      const member = host || p.user.role === 'admin' || session.invited.some((i) => i.userId === p.user.id);
      if (!member) return ack(refuse('NOT_FOUND', 'no such session'));
      if (session.status !== 'open') return ack(refuse('SESSION_CLOSED', 'the session is closed'));
      const grant = await this.ctx.access.grant(p, session.slideId);
      if (!grant) return ack(refuse('FORBIDDEN', 'you have no access to this slide'));
      if (socket.data.sessionId && socket.data.sessionId !== session.id) await this.leave(socket);
      socket.data.sessionId = session.id;
      socket.data.slideId = session.slideId;
      socket.data.host = host;
      await socket.join([sessionRoom(session.id), slideRoom(session.slideId)]);
      const [annotations, seq, chat, opinions, participants] = await Promise.all([
        this.annotations.list(session.slideId),
        this.annotations.seq(session.slideId),
        this.sessions.chat(session.id),
        this.sessions.opinions(session.id),
        this.participants(session),
      ]);
      const replay =
        req.data.lastSeq !== undefined
          ? await this.annotations.since(session.slideId, req.data.lastSeq)
          : null;
      ack({
        ok: true,
        state: { session: presentSession(session, grant), seq, annotations, participants, chat, opinions },
        replay,
      });
      this.io?.to(sessionRoom(session.id)).emit('presence', participants);
    });

    on('leave', async () => {
      await this.leave(socket);
    });

    on('op', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const op = parse(OperationSchema, raw);
      if (!op.ok) return ack(op);
      const c = await this.recheck(socket);
      if ('ok' in c) return ack(c);
      const { p } = c;
      const slideId = socket.data.slideId!;
      const { result, applied } = await this.annotations.tryApply(slideId, op.data, {
        id: p.user.id,
        name: p.user.displayName,
        moderator: socket.data.host === true || p.user.role === 'admin',
      });
      ack(result);
      if (!applied) return;
      this.broadcast(applied, socket);
      await this.ctx.audit.record({
        action: `annotation.${applied.type}`,
        actor: p.user,
        targetType: 'annotation',
        targetId: applied.annotationId,
        detail: { slide: slideId, seq: applied.seq, session: socket.data.sessionId },
        ip: socket.handshake.address,
      });
    });

    on('cursor', async (raw: unknown) => {
      const c = parse(CursorSchema, raw);
      const { sessionId } = socket.data;
      if (!c.ok || !sessionId) return;
      const userId = socket.data.principal.user.id;
      socket.volatile
        .to(sessionRoom(sessionId))
        .emit('cursor', c.data ? { userId, x: c.data.x, y: c.data.y } : { userId, gone: true });
    });

    on('view', async (raw: unknown) => {
      const v = parse(ViewSchema, raw);
      const { sessionId } = socket.data;
      if (!v.ok || !sessionId) return;
      socket.volatile
        .to(sessionRoom(sessionId))
        .emit('view', { userId: socket.data.principal.user.id, view: v.data });
    });

    on('summon', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const v = parse(ViewSchema, raw);
      if (!v.ok) return ack(v);
      const c = await this.recheck(socket);
      if ('ok' in c) return ack(c);
      if (!socket.data.host) return ack(refuse('FORBIDDEN', 'only the host brings everyone to their view'));
      socket.to(sessionRoom(c.session.id)).emit('summon', { userId: c.p.user.id, view: v.data });
      ack({ ok: true });
    });

    on('chat', async (raw: unknown, ackRaw: unknown) => {
      const ack = ackOf(ackRaw);
      const m = parse(ChatSchema, raw);
      if (!m.ok) return ack(m);
      const c = await this.recheck(socket);
      if ('ok' in c) return ack(c);
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
      if ('ok' in c) return ack(c);
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
      void this.left(socket.data.sessionId, socket.data.principal.user.id);
    });
  }

  private async leave(socket: Sock): Promise<void> {
    const { sessionId, slideId } = socket.data;
    if (!sessionId) return;
    delete socket.data.sessionId;
    delete socket.data.slideId;
    delete socket.data.host;
    await socket.leave(sessionRoom(sessionId));
    if (slideId) await socket.leave(slideRoom(slideId));
    await this.left(sessionId, socket.data.principal.user.id);
  }

  private async left(sessionId: string | undefined, userId: string): Promise<void> {
    if (!sessionId || !this.io) return;
    this.io.to(sessionRoom(sessionId)).emit('cursor', { userId, gone: true });
    const session = await this.sessions.get(sessionId);
    if (session) this.io.to(sessionRoom(sessionId)).emit('presence', await this.participants(session));
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
