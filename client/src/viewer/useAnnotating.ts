import { useCallback, useEffect, useMemo, useRef, useState, type RefObject } from 'react';
import type { MeDto, SlideDto } from '../../../protocol/index.ts';
import type { AnnotationClass, AnnotationDto, AnnotationKind, Geometry } from '../../../protocol/review.ts';
import { applyFilter, NO_FILTER, passes, type AnnotationFilter } from '../review/annotation-filter.ts';
import { restOps, roomOps, type AnnotationOps } from '../review/ops.ts';
import { rounded } from '../review/shapes.ts';
import { VIEW_ONLY } from '../review/slide-annotations.ts';
import { usePalette, type Palette } from '../review/usePalette.ts';
import type { Room } from '../review/useReviewRoom.ts';
import { useSlideAnnotations } from '../review/useSlideAnnotations.ts';
import { fitViewToBox, geometryBounds } from './fit-box.ts';
import type { Tool } from './keys.ts';
import type { MeasuredShape } from './MeasureOverlay.tsx';
import type { OsdController } from './osd.ts';

/** The shape just drawn: kept unless discarded (Esc). */
export interface Fresh {
  id: string;
  /** Refused by the server (a share is view only): shown and measured here, saved nowhere. */
  local: AnnotationDto | null;
  message: string | null;
}

export interface Annotating {
  palette: Palette;
  /** Every annotation of the slide: the session's in a session (the same set), else the REST list. */
  annotations: readonly AnnotationDto[];
  /** Those the filters let through, and a refused shape still on screen. */
  shown: AnnotationDto[];
  visible: readonly AnnotationDto[];
  filter: AnnotationFilter;
  setFilter: (f: AnnotationFilter) => void;
  ops: AnnotationOps;
  editable: boolean;
  tool: Tool;
  setTool: (t: Tool) => void;
  cls: AnnotationClass | null;
  setCls: (c: AnnotationClass | null) => void;
  selectedId: string | null;
  setSelectedId: (id: string | null) => void;
  fresh: Fresh | null;
  freshShape: AnnotationDto | null;
  notice: string | null;
  reload: () => void;
  onCreate: (kind: AnnotationKind, g: Geometry) => void;
  onMove: (id: string, g: Geometry) => void;
  keep: () => boolean;
  discard: () => boolean;
  escape: () => void;
  deleteSelected: () => void;
  goTo: (a: AnnotationDto) => void;
  setPane: (el: HTMLElement | null) => void;
  measured: MeasuredShape[];
  /** The shape being drawn (kept out of React state: it changes on every pointer move). */
  draft: DraftStore;
}

export type Draft = { kind: AnnotationKind; points: [number, number][] } | null;

/** The shape being drawn, for whoever shows its measurement live (useSyncExternalStore). */
export class DraftStore {
  private value: Draft = null;
  private readonly listeners = new Set<() => void>();
  get = (): Draft => this.value;
  set = (d: Draft): void => {
    this.value = d;
    for (const fn of this.listeners) fn();
  };
  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };
  /** A shape is being drawn: Esc, Enter and Backspace are the drawing's. */
  drafting = (): boolean => this.value !== null;
}

/**
 * Drawing, keeping and discarding annotations, in or out of a live session: one tool set, one
 * list. A measurement is an annotation: a shape is saved as it is drawn and stays unless
 * discarded. Outside a session changes go through the REST API, inside through the session.
 */
export function useAnnotating(a: {
  slide: SlideDto;
  me: MeDto;
  sessionId: string | null;
  room: Room | null;
  controller: RefObject<OsdController | null>;
  maxImageZoom: number;
}): Annotating {
  const { slide, me, sessionId, room, controller, maxImageZoom } = a;
  const palette = usePalette();
  const rest = useSlideAnnotations(
    slide.id,
    { id: me.user.id, name: me.user.displayName },
    !!sessionId,
    slide.access !== 'site',
  );
  const ops = useMemo(() => (room ? roomOps(room) : restOps(rest.store)), [room, rest.store]);
  const annotations = room ? room.annotations : rest.annotations;
  const editable = room ? room.status.kind === 'live' || room.status.kind === 'reconnecting' : true;

  const [tool, setToolState] = useState<Tool>('select');
  const [clsName, setClsName] = useState<string | null | undefined>(undefined);
  const cls: AnnotationClass | null =
    clsName === null ? null : (palette.classes.find((c) => c.name === clsName) ?? palette.classes[0] ?? null);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [fresh, setFresh] = useState<Fresh | null>(null);
  const [filter, setFilter] = useState<AnnotationFilter>(NO_FILTER);
  /** The creation whose answer may still make its shape the fresh one. */
  const pending = useRef<object | null>(null);
  const pane = useRef<HTMLElement | null>(null);
  const [draft] = useState(() => new DraftStore());

  const latest = useRef({ fresh, tool, selectedId, ops, room });
  latest.current = { fresh, tool, selectedId, ops, room };

  useEffect(() => {
    setSelectedId(null);
    setToolState('select');
    setFresh(null);
    pending.current = null;
  }, [sessionId]);

  const visible = useMemo(() => applyFilter(annotations, filter), [annotations, filter]);
  const shown = useMemo(() => (fresh?.local ? [...visible, fresh.local] : [...visible]), [visible, fresh]);
  const freshShape = fresh ? (fresh.local ?? annotations.find((x) => x.id === fresh.id) ?? null) : null;

  const setTool = useCallback((t: Tool) => {
    setToolState(t);
    // A saved fresh shape is kept; a refused one stays on screen until discarded.
    setFresh((f) => (f?.local ? f : null));
    pending.current = null;
  }, []);

  const onCreate = useCallback(
    (kind: AnnotationKind, g: Geometry) => {
      const shape = { kind, geometry: rounded(g), classification: cls ? { ...cls } : null, label: '' };
      const token = {};
      pending.current = token;
      const c = latest.current.ops.create(shape);
      if (c.id) {
        setFresh({ id: c.id, local: null, message: null });
        setSelectedId(c.id);
      } else setFresh(null);
      void c.result.then((r) => {
        if (pending.current !== token) return;
        if (r.ok) {
          setFresh({ id: r.id, local: null, message: null });
          setSelectedId(r.id);
        } else if (r.code === 'FORBIDDEN') {
          const id = `local-${Math.random().toString(36).slice(2)}`;
          const now = new Date().toISOString();
          setFresh({
            id,
            message: r.message || VIEW_ONLY,
            local: {
              id,
              slideId: slide.id,
              ...shape,
              authorId: me.user.id,
              authorName: me.user.displayName,
              createdAt: now,
              updatedAt: now,
              version: 0,
              comments: [],
            },
          });
          setSelectedId(null);
        } else {
          setFresh(null);
        }
      });
    },
    [cls, slide.id, me.user.id, me.user.displayName],
  );

  const onMove = useCallback((id: string, g: Geometry) => {
    const f = latest.current.fresh;
    if (f?.local && f.id === id) {
      setFresh({ ...f, local: { ...f.local, geometry: rounded(g) } });
      return;
    }
    latest.current.ops.update(id, { geometry: rounded(g) });
  }, []);

  const keep = useCallback((): boolean => {
    const f = latest.current.fresh;
    if (!f || f.local) return false;
    pending.current = null;
    setFresh(null);
    return true;
  }, []);

  const discard = useCallback((): boolean => {
    const f = latest.current.fresh;
    if (!f && !pending.current) return false;
    pending.current = null;
    if (f && !f.local) latest.current.ops.remove(f.id);
    if (f && latest.current.selectedId === f.id) setSelectedId(null);
    setFresh(null);
    return true;
  }, []);

  const escape = useCallback(() => {
    if (discard()) return;
    if (latest.current.tool !== 'select') setToolState('select');
    else setSelectedId(null);
  }, [discard]);

  const deleteSelected = useCallback(() => {
    const { selectedId: id, fresh: f, ops: o } = latest.current;
    if (!id) return;
    if (f?.id === id) discard();
    else o.remove(id);
    setSelectedId(null);
  }, [discard]);

  const goTo = useCallback(
    (x: AnnotationDto) => {
      const c = controller.current;
      const el = pane.current;
      if (!c?.isOpen || !el) return;
      const r = el.getBoundingClientRect();
      const view = fitViewToBox(
        geometryBounds(x.geometry),
        { width: r.width, height: r.height },
        c.view(false).rotation,
        { margin: 0.15, minExtent: 256, maxImageZoom },
      );
      c.setView(view);
      latest.current.room?.interacted();
    },
    [controller, maxImageZoom],
  );

  const setPane = useCallback((el: HTMLElement | null) => {
    pane.current = el;
  }, []);

  const measured: MeasuredShape[] = [];
  if (freshShape)
    measured.push({
      key: freshShape.id,
      kind: freshShape.kind,
      geometry: freshShape.geometry,
      tone: fresh?.local ? 'unsaved' : 'fresh',
    });
  const selected =
    selectedId && selectedId !== freshShape?.id ? annotations.find((x) => x.id === selectedId) : null;
  if (selected && passes(selected, filter))
    measured.push({ key: selected.id, kind: selected.kind, geometry: selected.geometry, tone: 'selected' });

  return {
    palette,
    annotations,
    shown,
    visible,
    filter,
    setFilter,
    ops,
    editable,
    tool,
    setTool,
    cls,
    setCls: (c) => setClsName(c ? c.name : null),
    selectedId,
    setSelectedId,
    fresh,
    freshShape,
    // A refused new shape says why in its own card.
    notice: room || (fresh?.local && fresh.message === rest.notice) ? null : rest.notice,
    reload: rest.reload,
    onCreate,
    onMove,
    keep,
    discard,
    escape,
    deleteSelected,
    goTo,
    setPane,
    measured,
    draft,
  };
}
