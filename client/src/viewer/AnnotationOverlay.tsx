import type { PaletteClass } from '../review/constants.ts';
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { AnnotationDto, AnnotationKind, Geometry, ViewDto } from '../../../protocol/review.ts';
import {
  addSample,
  boxCorners,
  closedGeometry,
  dragGeometry,
  topmostHit,
  translate,
  type Pt,
} from '../review/shapes.ts';
import { apply, invert, type Affine } from './geometry.ts';
import { AnnotationLayer, ShapeBody, type LayerHandle } from './AnnotationLayer.tsx';

/** Annotation tools: select (and move), or draw one kind. */
export type AnnotationTool = 'select' | AnnotationKind;

/** Screen pixels: how near a click must be to a point or line, and the smallest shape drawn. */
const HIT_PX = 6;
const MIN_PX = 4;

export interface Person {
  name: string;
  color: string;
}

interface Props {
  transform: Affine;
  /** The slide (its annotation layer may take over a worker already reading its annotations). */
  slideId?: string;
  /** Every tile of the view is drawn. */
  tilesLoaded?: boolean;
  annotations: AnnotationDto[];
  selectedId: string | null;
  onSelect: (id: string | null) => void;
  tool: AnnotationTool;
  color: string;
  /** Drawing and moving allowed (the server may still refuse: a share is view only). */
  editable: boolean;
  /** Something else has the pointer: no selecting, moving or drawing. */
  suspended: boolean;
  onCreate: (kind: AnnotationKind, geometry: Geometry) => void;
  /** The shape being drawn, as it grows (its measurement is shown live); null when none. */
  onDraft?: (draft: { kind: AnnotationKind; points: [number, number][] } | null) => void;
  onMove: (id: string, geometry: Geometry) => void;
  onCursor?: (p: Pt | null) => void;
  cursors?: { userId: string; x: number; y: number }[];
  views?: Map<string, ViewDto>;
  people?: Map<string, Person>;
  /** The classes' colours today. */
  palette?: readonly PaletteClass[];
}

interface Draft {
  kind: AnnotationKind;
  points: [number, number][];
  /** Where the pointer is (polygon rubber band). */
  hover: Pt | null;
}

const pair = (p: Pt): [number, number] => [p.x, p.y];

/** Kinds drawn a click per vertex (the others by one drag, or one click for a point). */
const CLICKED = new Set<AnnotationKind>(['polygon', 'polyline']);

/** A polyline worth keeping: two vertices at least `minSize` apart in all. */
function openGeometry(points: [number, number][], minSize: number): Geometry | null {
  const distinct: [number, number][] = [];
  for (const p of points) {
    const last = distinct.at(-1);
    if (!last || Math.hypot(p[0] - last[0], p[1] - last[1]) >= minSize) distinct.push(p);
  }
  return distinct.length >= 2 ? { points: distinct } : null;
}

/**
 * Annotations, others' cursors and view outlines over the slide, all kept in level-0 image pixels and
 * projected through the frame's transform: the stored annotations in a layer of their own
 * (AnnotationLayer), the rest redrawn each frame above it. The overlay never takes the pointer: a
 * listener on the pane (capture phase, ahead of OpenSeadragon) claims a press only when it selects,
 * moves or draws something, so an empty spot still pans.
 */
export function AnnotationOverlay(props: Props) {
  const root = useRef<HTMLDivElement>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [moving, setMoving] = useState<{ id: string; dx: number; dy: number } | null>(null);
  const latest = useRef({ props, draft });
  latest.current = { props, draft };
  const t = props.transform;
  const layer = useRef<LayerHandle>(null);
  // Stored annotations follow the view by one style write, not a re-render of their shapes.
  useLayoutEffect(() => layer.current?.frame(t), [t]);

  useEffect(() => {
    const pane = root.current?.parentElement;
    if (!pane) return;
    const toImage = (e: { clientX: number; clientY: number }): Pt => {
      const r = pane.getBoundingClientRect();
      return apply(invert(latest.current.props.transform), { x: e.clientX - r.left, y: e.clientY - r.top });
    };
    const perPx = (): number =>
      1 / (Math.hypot(latest.current.props.transform[0], latest.current.props.transform[1]) || 1);

    /** Polygons close; polylines end where they are (two distinct vertices at least). */
    const finishPath = () => {
      const d = latest.current.draft;
      if (!d || !CLICKED.has(d.kind)) return;
      const g =
        d.kind === 'polygon'
          ? closedGeometry(d.points, MIN_PX * perPx())
          : openGeometry(d.points, MIN_PX * perPx());
      if (g) latest.current.props.onCreate(d.kind, g);
      setDraft(null);
    };

    const drag = (onMove: (p: Pt) => void, onUp: (p: Pt) => void) => {
      const move = (e: PointerEvent) => onMove(toImage(e));
      const up = (e: PointerEvent) => {
        window.removeEventListener('pointermove', move);
        window.removeEventListener('pointerup', up);
        window.removeEventListener('pointercancel', up);
        onUp(toImage(e));
      };
      window.addEventListener('pointermove', move);
      window.addEventListener('pointerup', up);
      window.addEventListener('pointercancel', up);
    };

    const onDown = (e: PointerEvent) => {
      const p = latest.current.props;
      if (p.suspended || e.button !== 0) return;
      const at = toImage(e);
      const claim = () => {
        e.stopPropagation();
        e.preventDefault();
      };
      if (p.tool === 'select' || !p.editable) {
        const hit = topmostHit(p.annotations, at, HIT_PX * perPx());
        if (!hit) {
          p.onSelect(null);
          return;
        }
        claim();
        p.onSelect(hit.id);
        // A locked annotation stays where it is (as in QuPath).
        if (!p.editable || hit.locked) return;
        const start = at;
        let moved = false;
        drag(
          (q) => {
            if (!moved && Math.hypot(q.x - start.x, q.y - start.y) < MIN_PX * perPx()) return;
            moved = true;
            setMoving({ id: hit.id, dx: q.x - start.x, dy: q.y - start.y });
          },
          (q) => {
            setMoving(null);
            if (moved)
              latest.current.props.onMove(hit.id, translate(hit.geometry, q.x - start.x, q.y - start.y));
          },
        );
        return;
      }
      claim();
      const kind = p.tool;
      if (kind === 'point') {
        p.onCreate('point', { points: [pair(at)] });
        return;
      }
      if (CLICKED.has(kind)) {
        const d = latest.current.draft;
        if (d?.kind === kind) {
          const first = d.points[0]!;
          const last = d.points[d.points.length - 1]!;
          const near = (q: [number, number]) => Math.hypot(at.x - q[0], at.y - q[1]) <= HIT_PX * perPx();
          // A polygon closes on its first vertex; a click on the last vertex again ends either.
          if (kind === 'polygon' && d.points.length >= 3 && near(first)) finishPath();
          else if (d.points.length >= 2 && near(last)) finishPath();
          else setDraft({ ...d, points: [...d.points, pair(at)], hover: at });
        } else setDraft({ kind, points: [pair(at)], hover: at });
        return;
      }
      if (kind === 'freehand') {
        let pts: [number, number][] = [pair(at)];
        setDraft({ kind, points: pts, hover: null });
        drag(
          (q) => {
            pts = addSample(pts, q, 2 * perPx());
            setDraft({ kind, points: pts, hover: null });
          },
          () => {
            setDraft(null);
            const g = closedGeometry(pts, MIN_PX * perPx());
            if (g) latest.current.props.onCreate('freehand', g);
          },
        );
        return;
      }
      setDraft({ kind, points: [pair(at), pair(at)], hover: null });
      drag(
        (q) => setDraft({ kind, points: [pair(at), pair(q)], hover: null }),
        (q) => {
          setDraft(null);
          const g = dragGeometry(kind, at, q, MIN_PX * perPx());
          if (g) latest.current.props.onCreate(kind, g);
        },
      );
    };
    const onMove = (e: PointerEvent) => {
      const at = toImage(e);
      latest.current.props.onCursor?.(at);
      const d = latest.current.draft;
      if (d && CLICKED.has(d.kind)) setDraft({ ...d, hover: at });
    };
    const onLeave = () => latest.current.props.onCursor?.(null);
    const onDbl = (e: MouseEvent) => {
      const d = latest.current.draft;
      if (!d || !CLICKED.has(d.kind)) return;
      e.stopPropagation();
      finishPath();
    };
    const onKey = (e: KeyboardEvent) => {
      const d = latest.current.draft;
      if (!d) return;
      if (e.key === 'Escape') setDraft(null);
      else if (e.key === 'Enter') finishPath();
      else if (e.key === 'Backspace' && CLICKED.has(d.kind))
        setDraft(d.points.length <= 1 ? null : { ...d, points: d.points.slice(0, -1) });
      else return;
      e.preventDefault();
    };
    pane.addEventListener('pointerdown', onDown, true);
    pane.addEventListener('pointermove', onMove);
    pane.addEventListener('pointerleave', onLeave);
    pane.addEventListener('dblclick', onDbl, true);
    window.addEventListener('keydown', onKey);
    return () => {
      pane.removeEventListener('pointerdown', onDown, true);
      pane.removeEventListener('pointermove', onMove);
      pane.removeEventListener('pointerleave', onLeave);
      pane.removeEventListener('dblclick', onDbl, true);
      window.removeEventListener('keydown', onKey);
    };
  }, []);

  // A tool change drops a half-drawn polygon.
  useEffect(() => setDraft(null), [props.tool, props.editable]);
  // The shape being drawn, with the rubber-band vertex, for its live measurement.
  useEffect(() => {
    latest.current.props.onDraft?.(
      draft
        ? { kind: draft.kind, points: draft.hover ? [...draft.points, pair(draft.hover)] : draft.points }
        : null,
    );
  }, [draft]);

  const drawing = props.editable && props.tool !== 'select' && !props.suspended;
  return (
    <div ref={root} className={`annotation-overlay${drawing ? ' drawing' : ''}`} data-tool={props.tool}>
      <AnnotationLayer
        ref={layer}
        annotations={props.annotations}
        slideId={props.slideId}
        tilesLoaded={props.tilesLoaded}
        selectedId={props.selectedId}
        moving={moving}
        palette={props.palette}
      />
      <svg className="annotation-live">
        {[...(props.views ?? [])].map(([userId, v]) => {
          const who = props.people?.get(userId);
          if (!who) return null;
          const c = boxCorners(v.bounds).map((p) => apply(t, p));
          const top = c.reduce((a, b) => (b.y < a.y || (b.y === a.y && b.x < a.x) ? b : a));
          return (
            <g key={userId} className="view-outline" data-user-id={userId}>
              <polygon points={c.map((p) => `${p.x},${p.y}`).join(' ')} stroke={who.color} />
              <text x={top.x + 4} y={top.y + 14} fill={who.color}>
                {who.name}
              </text>
            </g>
          );
        })}
        {draft && (
          <g
            className="ann draft"
            stroke={props.color}
            fill={props.color}
            transform={`matrix(${t.join(' ')})`}
          >
            {CLICKED.has(draft.kind) || draft.kind === 'freehand' ? (
              <polyline
                vectorEffect="non-scaling-stroke"
                points={[...draft.points, ...(draft.hover ? [pair(draft.hover)] : [])]
                  .map(([x, y]) => `${x},${y}`)
                  .join(' ')}
              />
            ) : (
              <ShapeBody
                kind={draft.kind}
                g={{ points: draft.points }}
                px={1 / (Math.hypot(t[0], t[1]) || 1)}
                nonScaling
              />
            )}
          </g>
        )}
        {(props.cursors ?? []).map((c) => {
          const who = props.people?.get(c.userId);
          if (!who) return null;
          const s = apply(t, c);
          return (
            <g
              key={c.userId}
              className="remote-cursor"
              data-user-id={c.userId}
              transform={`translate(${s.x} ${s.y})`}
            >
              <path d="M0 0 L0 16 L4.5 12 L8 19 L10.5 18 L7 11 L12.5 11 Z" fill={who.color} />
              <text x={14} y={24} fill={who.color}>
                {who.name}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
