import { useCallback, useEffect, useMemo, useRef, useState, type RefObject } from 'react';
import { io } from 'socket.io-client';
import type {
  AnnotationDto,
  AnnotationPatch,
  Geometry,
  AnnotationClass,
  AnnotationKind,
  OpResult,
  ViewDto,
} from '../../../protocol/review.ts';
import type { OsdController } from '../viewer/osd.ts';
import type { ViewState } from '../viewer/viewport.ts';
import { ReviewSession, type ReviewSocket } from './session-client.ts';
import { throttle } from './throttle.ts';
import type { Confidence } from './constants.ts';

export type RoomStatus =
  { kind: 'connecting' } | { kind: 'live' } | { kind: 'reconnecting' } | { kind: 'ended'; reason: string };

export interface RemoteCursor {
  userId: string;
  x: number;
  y: number;
}

export interface Room {
  sessionId: string;
  session: ReviewSession;
  status: RoomStatus;
  meId: string;
  isHost: boolean;
  annotations: AnnotationDto[];
  cursors: RemoteCursor[];
  views: Map<string, ViewDto>;
  following: string | null;
  follow: (userId: string | null) => void;
  notice: string | null;
  create: (a: {
    kind: AnnotationKind;
    geometry: Geometry;
    classification: AnnotationClass | null;
    label: string;
  }) => Promise<string | null>;
  update: (id: string, patch: AnnotationPatch) => void;
  remove: (id: string) => void;
  undo: () => void;
  redo: () => void;
  comment: (id: string, text: string) => Promise<boolean>;
  say: (text: string) => Promise<string | null>;
  opinion: (o: { diagnosis: string; confidence: Confidence; text: string }) => Promise<string | null>;
  summon: () => void;
  cursor: (p: { x: number; y: number } | null) => void;
  /** Called on every frame of the main view. */
  frame: (v: ViewState) => void;
  /** The user moved the view by hand: following stops. */
  interacted: () => void;
}

const CURSOR_MS = 50; // about 20 a second
const VIEW_MS = 150;

function failure(r: OpResult | null): string | null {
  if (!r || r.ok) return null;
  return r.code === 'CONFLICT' ? 'Changed by someone else since — not undone' : r.message;
}

/**
 * One live review session: the socket, the ReviewSession state, others' cursors and views, follow
 * mode and summons. Null without a session id.
 */
export function useReviewRoom(
  sessionId: string | null,
  meId: string,
  controller: RefObject<OsdController | null>,
): Room | null {
  const [session, setSession] = useState<ReviewSession | null>(null);
  const [, setTick] = useState(0);
  const [status, setStatus] = useState<RoomStatus>({ kind: 'connecting' });
  const [cursors, setCursors] = useState<Map<string, RemoteCursor>>(new Map());
  const [views, setViews] = useState<Map<string, ViewDto>>(new Map());
  const [following, setFollowing] = useState<string | null>(null);
  const followRef = useRef<string | null>(null);
  followRef.current = following;
  const [notice, setNotice] = useState<string | null>(null);
  const noticeTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const flash = useCallback((text: string | null) => {
    if (!text) return;
    setNotice(text);
    if (noticeTimer.current) clearTimeout(noticeTimer.current);
    noticeTimer.current = setTimeout(() => setNotice(null), 5000);
  }, []);

  useEffect(() => {
    if (!sessionId) return;
    const socket: ReviewSocket = io({ path: '/socket.io', transports: ['websocket'] });
    const s = new ReviewSession(socket, sessionId, window.localStorage);
    setSession(s);
    setStatus({ kind: 'connecting' });
    let ended = false;
    const end = (reason: string) => {
      ended = true;
      setStatus({ kind: 'ended', reason });
      socket.disconnect();
    };
    const off = s.onChange(() => {
      setTick((t) => t + 1);
      if (!ended)
        setStatus(
          s.connected ? (s.session ? { kind: 'live' } : { kind: 'connecting' }) : { kind: 'reconnecting' },
        );
    });
    void s.ready().then((r) => {
      if (!r.ok) end(r.message);
    });
    socket.on('connect_error', () => {
      if (!ended) setStatus({ kind: 'reconnecting' });
    });
    socket.on('cursor', (c) =>
      setCursors((m) => {
        const next = new Map(m);
        if ('gone' in c) next.delete(c.userId);
        else next.set(c.userId, c);
        return next;
      }),
    );
    socket.on('view', ({ userId, view }) => {
      setViews((m) => new Map(m).set(userId, view));
      if (followRef.current === userId) controller.current?.setView(view);
    });
    socket.on('summon', ({ view }) => {
      setFollowing(null);
      controller.current?.setView(view);
    });
    socket.on('presence', (ps) => {
      // Someone who left takes their cursor and view outline along.
      const online = new Set(ps.filter((p) => p.online).map((p) => p.userId));
      setViews((m) => new Map([...m].filter(([id]) => online.has(id))));
      setCursors((m) => new Map([...m].filter(([id]) => online.has(id))));
    });
    socket.on('kicked', (k) => end(k.message || 'You were removed from the session'));
    socket.on('closed', () => end('The host closed the session'));
    return () => {
      off();
      if (socket.connected) socket.emit('leave');
      socket.disconnect();
      setSession(null);
      setCursors(new Map());
      setViews(new Map());
      setFollowing(null);
    };
  }, [sessionId, controller]);

  const emitCursor = useMemo(
    () => throttle((p: { x: number; y: number } | null) => session?.socket.emit('cursor', p), CURSOR_MS),
    [session],
  );
  const emitView = useMemo(
    () =>
      throttle(() => {
        const c = controller.current;
        const b = c?.imageBounds();
        if (!c?.isOpen || !b || !session?.connected) return;
        session.socket.emit('view', { ...c.view(true), bounds: b });
      }, VIEW_MS),
    [session, controller],
  );
  const presenceKey = session?.participants.map((p) => `${p.userId}:${p.online}`).join(',') ?? '';
  useEffect(() => {
    if (presenceKey) emitView();
  }, [presenceKey, emitView]);
  useEffect(
    () => () => {
      emitCursor.cancel();
      emitView.cancel();
    },
    [emitCursor, emitView],
  );

  if (!sessionId || !session) return null;
  const me = session.participants.find((p) => p.userId === meId);
  return {
    sessionId,
    session,
    status,
    meId,
    isHost: session.session?.hostId === meId || me?.host === true,
    annotations: session.annotations(),
    cursors: [...cursors.values()],
    views,
    following,
    follow: (userId) => {
      setFollowing(userId);
      const v = userId ? views.get(userId) : undefined;
      if (v) controller.current?.setView(v);
    },
    notice,
    create: async (a) => {
      const r = await session.create(a);
      if (!r.ok) flash(r.message);
      return r.ok ? r.id : null;
    },
    update: (id, patch) => void session.update(id, patch).then((r) => flash(failure(r))),
    remove: (id) => void session.remove(id).then((r) => flash(failure(r))),
    undo: () => void session.undo().then((r) => flash(failure(r))),
    redo: () => void session.redo().then((r) => flash(failure(r))),
    comment: async (id, text) => {
      const r = await session.comment(id, text);
      flash(failure(r));
      return r.ok;
    },
    say: async (text) => {
      const r = await session.say(text);
      return r.ok ? null : (r.message ?? 'not sent');
    },
    opinion: async (o) => {
      const r = await session.giveOpinion(o);
      return r.ok ? null : (r.message ?? 'not sent');
    },
    summon: () => {
      const c = controller.current;
      const b = c?.imageBounds();
      if (!c?.isOpen || !b) return;
      session.socket.emit('summon', { ...c.view(true), bounds: b }, (r) => {
        flash(r.ok ? 'Everyone was brought to your view' : r.message);
      });
    },
    cursor: emitCursor,
    frame: () => emitView(),
    interacted: () => {
      if (followRef.current) setFollowing(null);
    },
  };
}
