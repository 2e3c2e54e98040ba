import { memo, useImperativeHandle, useLayoutEffect, useMemo, useRef, useState, type Ref } from 'react';
import type { AnnotationDto, AnnotationKind, Geometry } from '../../../protocol/review.ts';
import { annotationColour } from '../review/constants.ts';
import { translate } from '../review/shapes.ts';
import { contains, cullShapes, geometryRect, viewRect, zoomOf, type Rect } from './cull.ts';
import { invert, type Affine } from './geometry.ts';

/** Point markers' radius, in screen pixels. */
const POINT_R = 5;
const MULTIPOINT_R = 4;
/** The drawn set covers the view and this much more of its size on every side. */
const MARGIN = 0.5;
/** A view at rest this long is "settled": the drawn set and marker sizes follow it. */
const SETTLE_MS = 120;
/** While zooming, the drawn set is redone early once the scale has changed this much. */
const ZOOM_DRIFT = 4;
/** Screen pixels a shape may paint beyond its box (selection halo, point markers). */
const PAD_PX = 12;

/** Called once per frame with the image → screen transform; costs one attribute write. */
export interface LayerHandle {
  frame(t: Affine): void;
}

interface Props {
  annotations: AnnotationDto[];
  selectedId: string | null;
  /** The annotation being dragged and by how much (image pixels). */
  moving: { id: string; dx: number; dy: number } | null;
  ref?: Ref<LayerHandle>;
}

/** What the drawn set was computed for. */
interface Cut {
  /** Image rectangle the drawn set covers. */
  rect: Rect;
  /** Image pixels per screen pixel when it was computed (markers and labels use it). */
  px: number;
  /** The transform's linear part undone (labels stay upright and at screen size). */
  counter: string;
}

const matrix = (t: readonly number[]): string => `matrix(${t.join(' ')})`;
const ringPath = (ring: readonly (readonly [number, number])[]): string =>
  `M${ring.map(([x, y]) => `${x},${y}`).join('L')}Z`;
const list = (pts: readonly (readonly [number, number])[]): string =>
  pts.map(([x, y]) => `${x},${y}`).join(' ');

/** An outer ring and its holes as one SVG path (drawn even-odd, so holes stay open). */
function ringsPath(g: { points: [number, number][]; holes?: [number, number][][] }): string {
  return [g.points, ...(g.holes ?? [])].map(ringPath).join(' ');
}

const VE = 'non-scaling-stroke';

/**
 * One shape in level-0 image pixels, to be drawn inside a group carrying the image → screen
 * transform; strokes keep their screen width, and point markers take `px` (image pixels per
 * screen pixel) to keep theirs.
 */
export function ShapeBody({ kind, g, px }: { kind: AnnotationKind; g: Geometry; px: number }) {
  const pts = g.points;
  const first = pts[0];
  if (!first) return null;
  switch (kind) {
    case 'point':
      return <circle className="ann-point" vectorEffect={VE} cx={first[0]} cy={first[1]} r={POINT_R * px} />;
    case 'multipoint':
      return (
        <g>
          {pts.map(([x, y], i) => (
            <circle key={i} className="ann-point" vectorEffect={VE} cx={x} cy={y} r={MULTIPOINT_R * px} />
          ))}
        </g>
      );
    case 'polyline':
      return <polyline vectorEffect={VE} points={list(pts)} />;
    case 'multipolygon':
      return (
        <path
          vectorEffect={VE}
          fillRule="evenodd"
          d={(g.parts ?? [{ points: pts }]).map((q) => ringsPath(q)).join(' ')}
        />
      );
    case 'line': {
      const b = pts[1] ?? first;
      return <line vectorEffect={VE} x1={first[0]} y1={first[1]} x2={b[0]} y2={b[1]} />;
    }
    case 'rectangle': {
      const r = geometryRect(g);
      return (
        <polygon
          vectorEffect={VE}
          points={`${r.minX},${r.minY} ${r.maxX},${r.minY} ${r.maxX},${r.maxY} ${r.minX},${r.maxY}`}
        />
      );
    }
    case 'ellipse': {
      const r = geometryRect(g);
      return (
        <ellipse
          vectorEffect={VE}
          cx={(r.minX + r.maxX) / 2}
          cy={(r.minY + r.maxY) / 2}
          rx={(r.maxX - r.minX) / 2}
          ry={(r.maxY - r.minY) / 2}
        />
      );
    }
    case 'polygon':
    case 'freehand':
      if (g.holes?.length) return <path vectorEffect={VE} fillRule="evenodd" d={ringsPath(g)} />;
      return <polygon vectorEffect={VE} points={list(pts)} />;
  }
}

const hasMarkers = (kind: AnnotationKind): boolean => kind === 'point' || kind === 'multipoint';

/**
 * One annotation. Memoised: a settled view re-renders only shapes whose drawing depends on the
 * scale (point markers, labels), and a drag only the dragged shape.
 */
const Annotation = memo(function Annotation({
  a,
  selected,
  dx,
  dy,
  px,
  counter,
}: {
  a: AnnotationDto;
  selected: boolean;
  dx: number;
  dy: number;
  /** Only for shapes that need it (markers, labels), so others do not re-render on zoom. */
  px: number;
  counter: string | null;
}) {
  const g = dx || dy ? translate(a.geometry, dx, dy) : a.geometry;
  const colour = annotationColour(a);
  const r = a.label ? geometryRect(g) : null;
  return (
    <g
      className={`ann ann-${a.kind}${selected ? ' selected' : ''}`}
      data-annotation-id={a.id}
      data-kind={a.kind}
      stroke={colour}
      fill={colour}
    >
      {selected && (
        <g className="ann-halo">
          <ShapeBody kind={a.kind} g={g} px={px} />
        </g>
      )}
      <ShapeBody kind={a.kind} g={g} px={px} />
      {r && counter && (
        <text className="ann-label" transform={`translate(${r.minX} ${r.minY}) ${counter}`} y={-6}>
          {a.label}
        </text>
      )}
    </g>
  );
});

/**
 * The stored annotations, in level-0 image pixels under one `<g transform="matrix(…)">`. Panning
 * and zooming only rewrite that attribute (through `frame`), so no shape re-renders while the view
 * moves. Only shapes whose box meets the view (plus a margin) are drawn; the set is redone when the
 * view settles, or at once when the view leaves the margin or the scale drifts far.
 */
export const AnnotationLayer = memo(function AnnotationLayer({
  annotations,
  selectedId,
  moving,
  ref,
}: Props) {
  const group = useRef<SVGGElement>(null);
  const size = useRef({ width: 0, height: 0 });
  const last = useRef<Affine | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const [cut, setCut] = useState<Cut | null>(null);
  const cutRef = useRef(cut);
  cutRef.current = cut;

  const measure = (): void => {
    const svg = group.current?.ownerSVGElement;
    if (!svg) return;
    const r = svg.getBoundingClientRect();
    size.current = { width: r.width, height: r.height };
  };

  const recut = (t: Affine): void => {
    const { width, height } = size.current;
    if (width <= 0 || height <= 0) return;
    const [a, b, c, d] = t;
    const next: Cut = {
      rect: viewRect(t, width, height, MARGIN),
      px: 1 / zoomOf(t),
      counter: matrix(invert([a, b, c, d, 0, 0])),
    };
    const prev = cutRef.current;
    if (
      prev &&
      prev.px === next.px &&
      prev.counter === next.counter &&
      prev.rect.minX === next.rect.minX &&
      prev.rect.minY === next.rect.minY &&
      prev.rect.maxX === next.rect.maxX &&
      prev.rect.maxY === next.rect.maxY
    )
      return;
    cutRef.current = next;
    setCut(next);
  };

  useLayoutEffect(() => {
    const svg = group.current?.ownerSVGElement;
    if (!svg) return;
    measure();
    const ro = new ResizeObserver(() => {
      measure();
      if (last.current) recut(last.current);
    });
    ro.observe(svg);
    return () => {
      ro.disconnect();
      if (timer.current) clearTimeout(timer.current);
    };
  }, []);

  useImperativeHandle(
    ref,
    () => ({
      frame(t: Affine) {
        last.current = t;
        group.current?.setAttribute('transform', matrix(t));
        const c = cutRef.current;
        const { width, height } = size.current;
        if (!c) recut(t);
        else if (width > 0 && height > 0) {
          const drift = c.px * zoomOf(t);
          if (!contains(c.rect, viewRect(t, width, height)) || drift > ZOOM_DRIFT || drift < 1 / ZOOM_DRIFT)
            recut(t);
        }
        if (timer.current) clearTimeout(timer.current);
        timer.current = setTimeout(() => {
          timer.current = null;
          if (last.current) recut(last.current);
        }, SETTLE_MS);
      },
    }),
    [],
  );

  const boxed = useMemo(() => annotations.map((a) => ({ a, rect: geometryRect(a.geometry) })), [annotations]);
  const shown = useMemo(() => (cut ? cullShapes(boxed, cut.rect, PAD_PX * cut.px) : []), [boxed, cut]);
  const movingId = moving?.id ?? null;
  // A dragged shape stays drawn wherever it goes.
  const dragged =
    movingId && !shown.some((s) => s.a.id === movingId) ? boxed.find((s) => s.a.id === movingId) : null;

  return (
    <g ref={group} className="annotation-layer">
      {cut &&
        [...shown, ...(dragged ? [dragged] : [])].map(({ a }) => {
          const m = a.id === movingId ? moving : null;
          const scaled = hasMarkers(a.kind) || Boolean(a.label);
          return (
            <Annotation
              key={a.id}
              a={a}
              selected={a.id === selectedId}
              dx={m?.dx ?? 0}
              dy={m?.dy ?? 0}
              px={scaled ? cut.px : 1}
              counter={a.label ? cut.counter : null}
            />
          );
        })}
    </g>
  );
});
