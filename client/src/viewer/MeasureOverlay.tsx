import { useRef, type PointerEvent, type WheelEvent } from 'react';
import { apply, centroid, invert, type Affine, type Mpp, type Point } from './geometry.ts';
import { measureValue, outline, type Measurement } from './measure.ts';
import type { MeasureApi } from './useMeasure.ts';

/** Below this many screen pixels a drag is a stray click, and two polygon vertices are one. */
const TOLERANCE_PX = 4;

interface Props {
  transform: Affine;
  measure: MeasureApi;
  mpp: Mpp | null;
  highlight: number | null;
  onZoom: (factor: number, at: Point) => void;
}

function Shape({
  m,
  t,
  mpp,
  draft,
  hot,
}: {
  m: Pick<Measurement, 'kind' | 'points'>;
  t: Affine;
  mpp: Mpp | null;
  draft?: boolean;
  hot?: boolean;
}) {
  const pts = outline(m).map((p) => apply(t, p));
  if (pts.length < 2) return null;
  const { text } = measureValue(m, mpp);
  const cls = `shape${draft ? ' draft' : ''}${hot ? ' hot' : ''}`;
  if (m.kind === 'line') {
    const [a, b] = pts as [Point, Point];
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    return (
      <g className={cls}>
        <line className="halo" x1={a.x} y1={a.y} x2={b.x} y2={b.y} />
        <line x1={a.x} y1={a.y} x2={b.x} y2={b.y} />
        <circle cx={a.x} cy={a.y} r={3} />
        <circle cx={b.x} cy={b.y} r={3} />
        <text x={mid.x} y={mid.y - 10} textAnchor="middle" className="measure-label">
          {text}
        </text>
      </g>
    );
  }
  const d = pts.map((p) => `${p.x},${p.y}`).join(' ');
  const c = centroid(pts);
  const closed = m.kind === 'rect' || !draft;
  return (
    <g className={cls}>
      {closed ? <polygon className="halo" points={d} /> : <polyline className="halo" points={d} />}
      {closed ? <polygon className="area" points={d} /> : <polyline className="area open" points={d} />}
      {m.kind === 'polygon' && pts.map((p, i) => <circle key={i} cx={p.x} cy={p.y} r={2.5} />)}
      {(m.kind === 'rect' || pts.length >= 3) && (
        <text x={c.x} y={c.y} textAnchor="middle" dominantBaseline="middle" className="measure-label">
          {text}
        </text>
      )}
    </g>
  );
}

/**
 * Measurements drawn over the slide. Points are kept in image pixels and projected through the
 * frame's transform, so shapes stay on the tissue through pan, zoom and rotation. While a tool is
 * active the overlay takes the pointer (OpenSeadragon would otherwise pan); the wheel still zooms.
 */
export function MeasureOverlay({ transform, measure, mpp, highlight, onZoom }: Props) {
  const svg = useRef<SVGSVGElement>(null);
  const active = measure.tool !== 'pan';
  const scale = Math.hypot(transform[0], transform[1]) || 1;
  const tol = TOLERANCE_PX / scale;

  const local = (e: { clientX: number; clientY: number }): Point => {
    const r = svg.current!.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const toImage = (e: { clientX: number; clientY: number }): Point => apply(invert(transform), local(e));

  const onPointerDown = (e: PointerEvent<SVGSVGElement>) => {
    if (!active || e.button !== 0) return;
    e.preventDefault();
    e.currentTarget.setPointerCapture(e.pointerId);
    measure.press(toImage(e));
  };
  const onPointerMove = (e: PointerEvent<SVGSVGElement>) => {
    if (active && measure.draft) measure.move(toImage(e));
  };
  const onPointerUp = (e: PointerEvent<SVGSVGElement>) => {
    if (!active || e.button !== 0) return;
    if (e.currentTarget.hasPointerCapture(e.pointerId)) e.currentTarget.releasePointerCapture(e.pointerId);
    measure.release(toImage(e), tol);
  };
  const onWheel = (e: WheelEvent<SVGSVGElement>) => {
    if (!active) return;
    onZoom(e.deltaY < 0 ? 1.25 : 1 / 1.25, local(e));
  };

  return (
    <svg
      ref={svg}
      className={`measure-overlay${active ? ' active' : ''}`}
      data-tool={measure.tool}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={onPointerUp}
      onDoubleClick={() => measure.finishPolygon(tol)}
      onWheel={onWheel}
      onContextMenu={(e) => active && e.preventDefault()}
    >
      {measure.items.map((m) => (
        <Shape key={m.id} m={m} t={transform} mpp={mpp} hot={m.id === highlight} />
      ))}
      {measure.draft && <Shape m={measure.draft} t={transform} mpp={mpp} draft />}
    </svg>
  );
}
