import {
  memo,
  useEffect,
  useImperativeHandle,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type CSSProperties,
  type Ref,
} from 'react';
import type { AnnotationDto, AnnotationKind, Geometry } from '../../../protocol/review.ts';
import { annotationColour, type PaletteClass } from '../review/constants.ts';
import { translate } from '../review/shapes.ts';
import { contains, cullShapes, geometryRect, viewRect, zoomOf, type Rect } from './cull.ts';
import {
  canvasShape,
  drawLabels,
  drawPacked,
  labelsAt,
  packShapes,
  type CanvasShape,
  type Label,
  type PackedShapes,
} from './annotation-canvas.ts';
import type { FromWorker, ToWorker } from './annotation-worker.ts';
import {
  OFFSCREEN,
  claimEarlyWorker,
  earlyDrawing,
  earlyDrawingShown,
  hasEarlyWorker,
  spawnAnnotationWorker,
  subscribeEarly,
} from './annotation-early.ts';
import { cssMove, invert, sameAffine, type Affine } from './geometry.ts';
// The canvas draws point markers at the same screen radius as the SVG here.
import { MULTIPOINT_R, POINT_R } from '../../../protocol/annotation-shapes.ts';

/**
 * The layer covers the view and this much more of its size on every side (what a pan uncovers
 * before the shapes are drawn anew), and clips there: left unclipped, shapes far outside the view
 * made each frame of a move 200-450 ms long (with 5,000 shapes after a zoom), clipped ~30 ms.
 */
const MARGIN = 0.25;
/**
 * A view at rest this long is "settled": the drawn set and marker sizes follow it. Long enough that
 * a run of steps (+ + →, wheel notches) is drawn anew once, after it, not after each step: with
 * 5,000 shapes each drawing takes ~150 ms of a core, which the next step's tiles then waited for.
 * Until then the painted picture is moved and scaled with the view.
 */
const SETTLE_MS = 350;
/**
 * A settled view whose tiles are still coming is drawn anew once they are all there, or after this
 * long: until then the painted shapes stay, scaled. Drawing 5,000 shapes again (~150 ms of a core
 * at a zoomed-in view) while the tiles were decoded held up every zoom step.
 */
const TILES_WAIT_MS = 1000;
/**
 * While zooming, the drawn set is redone early once the scale has changed this much (until then the
 * painted picture is scaled, its strokes with it): two zoom steps (1.5 x 1.5) in a row still go
 * without drawing mid-animation.
 */
const ZOOM_DRIFT = 2.5;
/** Screen pixels a shape may paint beyond its box (selection halo, point markers). */
const PAD_PX = 12;
/** From this many shapes in the drawn set, they are drawn on a canvas. */
const CANVAS_FROM = 300;

/*
 * Where the browser can (OFFSCREEN), the canvas is drawn by a worker (annotation-worker.ts) on an
 * OffscreenCanvas: the page's main thread only packs the shapes (when they change) and says which
 * to draw at which transform. A slide opened from a link has its worker started by the page's
 * first code, already reading the slide's annotations (annotation-early.ts).
 */

/**
 * Otherwise one worker started as the viewer's code loads, so that it is up (its script fetched and
 * run) by the time the slide's first annotations arrive.
 */
let spare: Worker | null = OFFSCREEN && !hasEarlyWorker() ? spawnAnnotationWorker() : null;

/** The worker and the canvas it draws (made by hand: a canvas is handed over once, for good). */
interface Offscreen {
  worker: Worker;
  el: HTMLCanvasElement;
  /** What the shapes last sent were packed from (`packKey`). */
  sent: unknown;
  seq: number;
  /** The worker read the slide's list itself (annotation-early.ts) and can draw it before the page has it. */
  early: boolean;
  /** The page asked the worker to keep the shapes it read itself as the page's (once). */
  adoptAsked: boolean;
}

/** Called once per frame with the image → screen transform; costs one style write. */
export interface LayerHandle {
  frame(t: Affine): void;
}

interface Props {
  annotations: AnnotationDto[];
  selectedId: string | null;
  /** The annotation being dragged and by how much (image pixels). */
  moving: { id: string; dx: number; dy: number } | null;
  /** The classes' colours today (a shape of a listed class is drawn in its palette colour). */
  palette?: readonly PaletteClass[];
  /** The slide, to take over the worker that may already be reading its annotations. */
  slideId?: string;
  /** Every tile of the view is drawn (a settled view is drawn anew only then). */
  tilesLoaded?: boolean;
  ref?: Ref<LayerHandle>;
}

/** What the drawn set was computed for. */
interface Cut {
  /** The image → screen transform the shapes are drawn with. */
  t: Affine;
  /** Image rectangle the drawn set covers. */
  rect: Rect;
  /** The layer's box in the pane: `MARGIN` of the pane's size beyond it on every side. */
  box: { left: number; top: number; width: number; height: number };
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

/**
 * One shape in level-0 image pixels, to be drawn inside a group carrying the image → screen
 * transform. Point markers take `px` (image pixels per screen pixel) to keep their screen size.
 * Strokes: with `nonScaling` (a shape being drawn) the browser keeps them at their screen width on
 * every frame; without it, the stylesheet scales them by the layer's `--px` (stored shapes: a
 * non-scaling stroke made each repaint of 5,000 shapes ~2.5x slower).
 */
export function ShapeBody({
  kind,
  g,
  px,
  nonScaling = false,
}: {
  kind: AnnotationKind;
  g: Geometry;
  px: number;
  nonScaling?: boolean;
}) {
  const VE = nonScaling ? 'non-scaling-stroke' : undefined;
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
  colour,
}: {
  a: AnnotationDto;
  selected: boolean;
  dx: number;
  dy: number;
  /** Only for shapes that need it (markers, labels), so others do not re-render on zoom. */
  px: number;
  counter: string | null;
  colour: string;
}) {
  const g = dx || dy ? translate(a.geometry, dx, dy) : a.geometry;
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
 * The stored annotations, in level-0 image pixels under one `<g transform="matrix(…)">` in an SVG
 * of their own. While the view moves, only that SVG's CSS transform follows it (the move since the
 * shapes were drawn): the compositor shifts and scales the picture already painted, so a frame
 * repaints nothing however many shapes there are (with 5,000, repainting them made every frame of a
 * zoom or pan 100-450 ms long). Only shapes whose box meets the view (plus a margin) are drawn; they
 * are drawn anew at the frame's transform when the view settles, or at once when the view leaves the
 * margin or the scale drifts far.
 */
export const AnnotationLayer = memo(function AnnotationLayer({
  annotations,
  selectedId,
  moving,
  palette,
  slideId,
  tilesLoaded = true,
  ref,
}: Props) {
  const layer = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  // Each annotation's canvas shape, made once per palette (its colour comes from there).
  const shapes = useMemo(() => new WeakMap<AnnotationDto, CanvasShape | null>(), [palette]);
  const size = useRef({ width: 0, height: 0 });
  const last = useRef<Affine | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const loadedNow = useRef(tilesLoaded);
  /** Settled while tiles were still coming: drawn anew when they are all there. */
  const waiting = useRef<ReturnType<typeof setTimeout> | null>(null);
  const [cut, setCut] = useState<Cut | null>(null);
  const cutRef = useRef(cut);
  cutRef.current = cut;
  const offscreen = useRef<Offscreen | null>(null);
  /** Drawings asked of the worker and not yet done: the transform and the count of each. */
  const asked = useRef(new Map<number, { t: Affine; count: number }>());
  /** The worker's latest drawing: what its canvas shows. */
  const [drawn, setDrawn] = useState<{ t: Affine; count: number } | null>(null);
  /** Bumped when the worker could not keep its own shapes: the page's are sent. */
  const [resend, setResend] = useState(0);
  /** The worker draws the list it read itself: the page has not read it yet. */
  const early = useSyncExternalStore(subscribeEarly, () => (slideId ? earlyDrawing(slideId) : false));

  const ensureOffscreen = (): Offscreen | null => {
    if (offscreen.current) return offscreen.current;
    const host = layer.current;
    if (!host) return null;
    const el = document.createElement('canvas');
    el.className = 'annotation-canvas';
    el.style.display = 'none';
    host.prepend(el);
    const claimed = slideId ? claimEarlyWorker(slideId) : null;
    const worker = claimed ?? spare ?? spawnAnnotationWorker();
    if (worker === spare) spare = null;
    const off = el.transferControlToOffscreen();
    worker.postMessage({ type: 'canvas', canvas: off } satisfies ToWorker, [off]);
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if (e.data.type === 'adopted') {
        if (!e.data.ok && offscreen.current) {
          offscreen.current.sent = null;
          setResend((n) => n + 1);
        }
        return;
      }
      if (e.data.type !== 'drawn') return;
      const { seq, count } = e.data;
      const done = asked.current.get(seq);
      for (const k of [...asked.current.keys()]) if (k <= seq) asked.current.delete(k);
      // A drawing of the worker's own list: it counts what it drew.
      if (done) setDrawn(done.count < 0 ? { t: done.t, count } : done);
      if (done && done.count < 0) earlyDrawingShown();
    };
    offscreen.current = { worker, el, sent: null, seq: 0, early: claimed !== null, adoptAsked: false };
    return offscreen.current;
  };
  useEffect(() => {
    // Started with the view, not when the shapes arrive: a worker takes tens of ms to start.
    if (OFFSCREEN) ensureOffscreen();
    return () => {
      offscreen.current?.worker.terminate();
      offscreen.current?.el.remove();
      offscreen.current = null;
      asked.current.clear();
    };
  }, []);

  const measure = (): void => {
    // The parent's box: the layer's own is moved by its CSS transform.
    const box = layer.current?.parentElement;
    if (box) size.current = { width: box.clientWidth, height: box.clientHeight };
  };

  /** The CSS move from the drawn transform to the latest frame's. */
  const follow = (): void => {
    const el = layer.current;
    const c = cutRef.current;
    if (el && c && last.current) el.style.transform = cssMove(c.t, last.current);
  };

  const recut = (t: Affine): void => {
    const { width, height } = size.current;
    if (width <= 0 || height <= 0) return;
    const [a, b, c, d] = t;
    const rect = viewRect(t, width, height, MARGIN);
    const prev = cutRef.current;
    if (
      prev &&
      sameAffine(prev.t, t) &&
      prev.rect.minX === rect.minX &&
      prev.rect.minY === rect.minY &&
      prev.rect.maxX === rect.maxX &&
      prev.rect.maxY === rect.maxY
    )
      return;
    const box = {
      left: -MARGIN * width,
      top: -MARGIN * height,
      width: (1 + 2 * MARGIN) * width,
      height: (1 + 2 * MARGIN) * height,
    };
    const next: Cut = { t, rect, box, px: 1 / zoomOf(t), counter: matrix(invert([a, b, c, d, 0, 0])) };
    cutRef.current = next;
    setCut(next);
  };

  useLayoutEffect(() => {
    const box = layer.current?.parentElement;
    if (!box) return;
    measure();
    const ro = new ResizeObserver(() => {
      measure();
      if (last.current) recut(last.current);
    });
    ro.observe(box);
    return () => {
      ro.disconnect();
      if (timer.current) clearTimeout(timer.current);
      if (waiting.current) clearTimeout(waiting.current);
    };
  }, []);

  const settle = (): void => {
    if (waiting.current) clearTimeout(waiting.current);
    waiting.current = null;
    if (last.current) recut(last.current);
  };
  useEffect(() => {
    loadedNow.current = tilesLoaded;
    if (tilesLoaded && waiting.current) settle();
  }, [tilesLoaded]);

  // Drawn anew: the CSS move starts again from the transform drawn with.
  useLayoutEffect(follow, [cut]);

  useImperativeHandle(
    ref,
    () => ({
      frame(t: Affine) {
        last.current = t;
        const c = cutRef.current;
        const { width, height } = size.current;
        if (!c) recut(t);
        else if (width > 0 && height > 0) {
          const drift = c.px * zoomOf(t);
          if (!contains(c.rect, viewRect(t, width, height)) || drift > ZOOM_DRIFT || drift < 1 / ZOOM_DRIFT)
            recut(t);
        }
        follow();
        if (timer.current) clearTimeout(timer.current);
        if (waiting.current) clearTimeout(waiting.current);
        waiting.current = null;
        timer.current = setTimeout(() => {
          timer.current = null;
          if (loadedNow.current) settle();
          else waiting.current = setTimeout(settle, TILES_WAIT_MS);
        }, SETTLE_MS);
      },
    }),
    [],
  );

  const boxed = useMemo(
    () => annotations.map((a, i) => ({ a, i, rect: geometryRect(a.geometry) })),
    [annotations],
  );
  /** What packed shapes were made from: the list and the palette (through `shapes`). */
  const packKey = useMemo(() => ({ boxed, shapes }), [boxed, shapes]);
  const shown = useMemo(() => (cut ? cullShapes(boxed, cut.rect, PAD_PX * cut.px) : []), [boxed, cut]);
  const movingId = moving?.id ?? null;
  // A dragged shape stays drawn wherever it goes.
  const dragged =
    movingId && !shown.some((s) => s.a.id === movingId) ? boxed.find((s) => s.a.id === movingId) : null;
  // Many shapes: drawn on a canvas, all but the selected and the dragged one (kept in the SVG, with
  // their halo and live position). As SVG elements, 5,000 shapes in a fitted view took ~750 ms to
  // appear (React, then style, layout and paint of each element), on a canvas tens of ms.
  const onCanvas = shown.length >= CANVAS_FROM;
  const inSvg = onCanvas ? shown.filter((x) => x.a.id === selectedId || x.a.id === movingId) : shown;

  const shapeOf = (a: AnnotationDto): CanvasShape | null => {
    let shape = shapes.get(a);
    if (shape === undefined) {
      shape = canvasShape(a, a.geometry, palette);
      shapes.set(a, shape);
    }
    return shape;
  };
  /** Every shape packed (in `boxed` order) and its label, if any. */
  const pack = (): { packed: PackedShapes; labels: (Label | null)[] } => ({
    packed: packShapes(boxed.map(({ a }) => shapeOf(a))),
    labels: boxed.map(({ a, rect }) => (a.label ? { text: a.label, x: rect.minX, y: rect.minY } : null)),
  });
  /** Packed shapes for drawing on this thread (the worker is handed its own). */
  const packedHere = useRef<{ key: unknown; packed: PackedShapes; labels: (Label | null)[] } | null>(null);

  useLayoutEffect(() => {
    if (!cut) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(cut.box.width * dpr);
    const h = Math.round(cut.box.height * dpr);
    const t: Affine = [
      cut.t[0],
      cut.t[1],
      cut.t[2],
      cut.t[3],
      cut.t[4] - cut.box.left,
      cut.t[5] - cut.box.top,
    ];
    // The selected and the dragged shape are in the SVG, with their halo and live position.
    const indices = Int32Array.from(
      shown.filter((x) => x.a.id !== selectedId && x.a.id !== movingId),
      (x) => x.i,
    );
    if (OFFSCREEN && early && annotations.length === 0) {
      // The page has not read the list yet: the worker draws the one it read, culled to the cut.
      const o = ensureOffscreen();
      if (o?.early) {
        o.el.style.display = '';
        const seq = ++o.seq;
        asked.current.set(seq, { t: cut.t, count: -1 });
        o.worker.postMessage({
          type: 'draw',
          seq,
          width: w,
          height: h,
          dpr,
          t,
          indices: null,
          rect: cut.rect,
          pad: PAD_PX * cut.px,
        } satisfies ToWorker);
        return;
      }
    }
    if (OFFSCREEN) {
      const o = onCanvas ? ensureOffscreen() : offscreen.current;
      if (!o) return;
      o.el.style.display = onCanvas ? '' : 'none';
      if (!onCanvas) return;
      if (o.sent !== packKey) {
        if (o.early && !o.adoptAsked && o.sent === null) {
          // The page's first list, most likely the one the worker read and drew: kept there if so,
          // rather than packed here (~100 ms of this thread with 5,000 shapes) and drawn again.
          o.adoptAsked = true;
          o.worker.postMessage({
            type: 'adopt',
            ids: boxed.map(({ a }) => a.id),
            colours: boxed.map(({ a }) => shapeOf(a)?.colour ?? ''),
          } satisfies ToWorker);
        } else {
          const { packed, labels } = pack();
          o.worker.postMessage({ type: 'shapes', packed, labels } satisfies ToWorker, [
            packed.data.buffer,
            packed.offsets.buffer,
          ]);
        }
        o.sent = packKey;
      }
      const seq = ++o.seq;
      asked.current.set(seq, { t: cut.t, count: shown.length });
      o.worker.postMessage({ type: 'draw', seq, width: w, height: h, dpr, t, indices } satisfies ToWorker, [
        indices.buffer,
      ]);
      return;
    }
    const el = canvas.current;
    if (!el || !onCanvas) return;
    if (el.width !== w) el.width = w;
    if (el.height !== h) el.height = h;
    const ctx = el.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (packedHere.current?.key !== packKey) packedHere.current = { key: packKey, ...pack() };
    const { packed, labels } = packedHere.current;
    drawPacked(ctx, packed, indices, t, dpr);
    drawLabels(ctx, labelsAt(labels, indices), t, dpr);
  }, [cut, shown, onCanvas, selectedId, movingId, packKey, early, annotations.length, resend]);

  // The worker's canvas shows its latest drawing, made at `drawn.t`: until the drawing for the
  // current cut is done, it is moved from there to the cut's transform (the layer then follows the
  // view from the cut, as for everything else in it).
  useLayoutEffect(() => {
    const o = offscreen.current;
    if (!o || !cut) return;
    o.el.style.transformOrigin = `${-cut.box.left}px ${-cut.box.top}px`;
    o.el.style.transform = drawn ? cssMove(drawn.t, cut.t) : 'none';
  }, [cut, drawn]);

  return (
    <div
      ref={layer}
      className="annotation-layer"
      data-drawn={
        OFFSCREEN && (onCanvas || (early && annotations.length === 0))
          ? drawn?.count
          : cut
            ? shown.length
            : undefined
      }
      data-renderer={onCanvas ? 'canvas' : 'svg'}
      style={
        {
          // Stroke widths are screen pixels times this (review.css): image pixels per screen pixel.
          '--px': cut?.px ?? 1,
          ...(cut && {
            left: cut.box.left,
            top: cut.box.top,
            width: cut.box.width,
            height: cut.box.height,
            // The pane's origin: the CSS move is in pane pixels.
            transformOrigin: `${-cut.box.left}px ${-cut.box.top}px`,
          }),
        } as CSSProperties
      }
    >
      {onCanvas && !OFFSCREEN && <canvas ref={canvas} className="annotation-canvas" />}
      <svg className="annotation-svg">
        {cut && (
          <g transform={matrix([...cut.t.slice(0, 4), cut.t[4] - cut.box.left, cut.t[5] - cut.box.top])}>
            {[...inSvg, ...(dragged ? [dragged] : [])].map(({ a }) => {
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
                  colour={annotationColour(a, palette)}
                />
              );
            })}
          </g>
        )}
      </svg>
    </div>
  );
});
