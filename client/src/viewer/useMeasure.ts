import { useCallback, useMemo, useRef, useState } from 'react';
import type { Point } from './geometry.ts';
import type { Tool } from './keys.ts';
import { closePolygon, type MeasureKind, type Measurement } from './measure.ts';

export interface Draft {
  kind: MeasureKind;
  /** For polygons the last point follows the pointer until the next click. */
  points: Point[];
}

export interface MeasureApi {
  tool: Tool;
  items: Measurement[];
  draft: Draft | null;
  setTool: (t: Tool) => void;
  /** Line/rectangle: press starts a drag. Polygon: each press fixes a vertex. */
  press: (p: Point) => void;
  move: (p: Point) => void;
  /** Line/rectangle: release ends the drag; shorter than `tolerance` image px is a stray click. */
  release: (p: Point, tolerance: number) => void;
  finishPolygon: (tolerance: number) => void;
  undoVertex: () => void;
  /** Esc: first the drawing in progress, then the tool itself. Returns false when nothing was left. */
  cancel: () => boolean;
  remove: (id: number) => void;
  clear: () => void;
}

export function useMeasure(): MeasureApi {
  const [tool, setToolState] = useState<Tool>('pan');
  const [items, setItems] = useState<Measurement[]>([]);
  const [draft, setDraft] = useState<Draft | null>(null);
  const nextId = useRef(1);
  // Handlers read the latest values without being recreated on every pointer move.
  const live = useRef({ tool, draft });
  live.current = { tool, draft };

  const commit = useCallback((kind: MeasureKind, points: Point[]) => {
    const id = nextId.current++;
    setItems((list) => [...list, { id, kind, points }]);
  }, []);

  const setTool = useCallback((t: Tool) => {
    setDraft(null);
    setToolState(t);
  }, []);

  const press = useCallback((p: Point) => {
    const { tool: t, draft: d } = live.current;
    if (t === 'pan') return;
    if (t === 'polygon') {
      const next: Draft = d
        ? { kind: 'polygon', points: [...d.points.slice(0, -1), p, p] }
        : { kind: 'polygon', points: [p, p] };
      live.current.draft = next;
      setDraft(next);
      return;
    }
    const next: Draft = { kind: t, points: [p, p] };
    live.current.draft = next;
    setDraft(next);
  }, []);

  const move = useCallback((p: Point) => {
    const d = live.current.draft;
    if (!d) return;
    const next = { ...d, points: [...d.points.slice(0, -1), p] };
    live.current.draft = next;
    setDraft(next);
  }, []);

  const release = useCallback(
    (p: Point, tolerance: number) => {
      const d = live.current.draft;
      if (!d || d.kind === 'polygon') return;
      const a = d.points[0]!;
      live.current.draft = null;
      setDraft(null);
      const far =
        d.kind === 'line'
          ? Math.hypot(p.x - a.x, p.y - a.y) > tolerance
          : Math.abs(p.x - a.x) > tolerance && Math.abs(p.y - a.y) > tolerance;
      if (far) commit(d.kind, [a, p]);
    },
    [commit],
  );

  const finishPolygon = useCallback(
    (tolerance: number) => {
      const d = live.current.draft;
      if (!d || d.kind !== 'polygon') return;
      const pts = closePolygon(d.points, tolerance);
      if (!pts) return;
      live.current.draft = null;
      setDraft(null);
      commit('polygon', pts);
    },
    [commit],
  );

  const undoVertex = useCallback(() => {
    const d = live.current.draft;
    if (!d || d.kind !== 'polygon') return;
    const next =
      d.points.length <= 2
        ? null
        : { ...d, points: [...d.points.slice(0, -2), d.points[d.points.length - 1]!] };
    live.current.draft = next;
    setDraft(next);
  }, []);

  const cancel = useCallback((): boolean => {
    if (live.current.draft) {
      live.current.draft = null;
      setDraft(null);
      return true;
    }
    if (live.current.tool !== 'pan') {
      setToolState('pan');
      return true;
    }
    return false;
  }, []);

  const remove = useCallback((id: number) => setItems((list) => list.filter((m) => m.id !== id)), []);
  const clear = useCallback(() => setItems([]), []);

  return useMemo(
    () => ({
      tool,
      items,
      draft,
      setTool,
      press,
      move,
      release,
      finishPolygon,
      undoVertex,
      cancel,
      remove,
      clear,
    }),
    [tool, items, draft, setTool, press, move, release, finishPolygon, undoVertex, cancel, remove, clear],
  );
}
