import { useCallback, useSyncExternalStore } from 'react';
import type { AnnotationKind, Geometry } from '../../../protocol/review.ts';
import { apply, type Affine, type Mpp, type Point } from './geometry.ts';
import { measureShape, measureText } from './measure-shapes.ts';
import type { DraftStore } from './useAnnotating.ts';

/** A shape whose measurement is written beside it on the slide. */
export interface MeasuredShape {
  key: string;
  kind: AnnotationKind;
  geometry: Geometry;
  /** fresh: just drawn; selected; draft: being drawn; unsaved: refused by the server, kept on screen. */
  tone: 'fresh' | 'selected' | 'draft' | 'unsaved';
}

interface Props {
  transform: Affine;
  shapes: readonly MeasuredShape[];
  mpp: Mpp | null;
  /** The shape being drawn, measured as it grows. */
  draft?: DraftStore;
  /** The pane the overlay sits in (its size is what "go to an annotation" fits into). */
  onPane?: (pane: HTMLElement | null) => void;
}

/** The screen points that outline a shape (rectangles and ellipses by their box's corners). */
function screenOutline(kind: AnnotationKind, g: Geometry, t: Affine): Point[] {
  const pts = g.points;
  if ((kind === 'rectangle' || kind === 'ellipse') && pts.length >= 2) {
    const [a, b] = [pts[0]!, pts[1]!];
    return [
      [a[0], a[1]],
      [b[0], a[1]],
      [b[0], b[1]],
      [a[0], b[1]],
    ].map(([x, y]) => apply(t, { x: x!, y: y! }));
  }
  const rings = g.parts ? g.parts.map((p) => p.points) : [pts];
  return rings.flat().map(([x, y]) => apply(t, { x, y }));
}

function Label({ s, t, mpp }: { s: MeasuredShape; t: Affine; mpp: Mpp | null }) {
  const { main, sub } = measureText(measureShape(s.kind, s.geometry, mpp));
  const pts = screenOutline(s.kind, s.geometry, t);
  if (!main || pts.length === 0) return null;
  let x: number;
  let y: number;
  if (s.kind === 'line' && pts.length >= 2) {
    x = (pts[0]!.x + pts[1]!.x) / 2;
    y = (pts[0]!.y + pts[1]!.y) / 2 - 12;
  } else if (s.kind === 'polyline') {
    const last = pts[pts.length - 1]!;
    x = last.x;
    y = last.y - 12;
  } else {
    const xs = pts.map((p) => p.x);
    x = (Math.min(...xs) + Math.max(...xs)) / 2;
    y = Math.min(...pts.map((p) => p.y)) - (sub ? 26 : 10);
  }
  return (
    <text
      x={x}
      y={y}
      textAnchor="middle"
      className={`measure-label tone-${s.tone}`}
      data-measure-for={s.key}
      data-testid="measure-label"
    >
      <tspan x={x}>{main}</tspan>
      {sub && (
        <tspan x={x} dy="1.25em" className="measure-label-sub">
          {sub}
        </tspan>
      )}
    </text>
  );
}

/**
 * Measurements written on the slide beside the shapes that matter now: the one being drawn, the
 * one just drawn and the selected one. The shapes themselves are drawn by the annotation overlay;
 * this layer never takes the pointer.
 */
export function MeasureOverlay({ transform, shapes, mpp, draft, onPane }: Props) {
  const none = useCallback(() => () => {}, []);
  const drawing = useSyncExternalStore(draft?.subscribe ?? none, draft?.get ?? (() => null));
  const ref = useCallback((svg: SVGSVGElement | null) => onPane?.(svg?.parentElement ?? null), [onPane]);
  return (
    <svg ref={ref} className="measure-overlay" aria-hidden="true">
      {shapes.map((s) => (
        <Label key={s.key} s={s} t={transform} mpp={mpp} />
      ))}
      {drawing && (
        <Label
          s={{ key: 'draft', kind: drawing.kind, geometry: { points: drawing.points }, tone: 'draft' }}
          t={transform}
          mpp={mpp}
        />
      )}
    </svg>
  );
}
