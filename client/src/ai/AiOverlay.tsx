import { memo, useEffect, useMemo, useRef, useState } from 'react';
import type { AiFindingDto, AiHeatmapDto } from '../../../protocol/ai.ts';
import { topmostHit } from '../review/shapes.ts';
import { colourise, type ColourMap } from './colormap.ts';
import { contains, viewRect, zoomOf, type Rect } from '../viewer/cull.ts';
import { cullFindings, heatmapMatrix, type Affine } from './findings.ts';
import type { Selected, ShownLayer } from './useAiLayers.ts';

/** Screen pixels: how near a click must be to a finding's outline or point. */
const HIT_PX = 6;
/** A press that moved less than this and was let go within CLICK_MS is a click, not a pan. */
const CLICK_PX = 4;
const CLICK_MS = 600;
/**
 * Findings are drawn over the view and this much more of its size on every side; the drawn set is
 * redone when the view leaves that area or zooms in past ZOOM_RECUT times, not on every frame.
 */
const MARGIN = 0.5;
const ZOOM_RECUT = 4;

interface Props {
  transform: Affine;
  shown: ShownLayer[];
  selected: Selected | null;
  onSelect: (s: Selected | null) => void;
  /** A heat map could not be read. */
  onError: (message: string) => void;
  /** The pane the overlay sits in (its size is what a finding is fitted into). */
  onPane?: (pane: HTMLElement | null) => void;
}

const css = (m: Affine): string => `matrix(${m.join(',')})`;

/** A heat map's grey PNG, read once: the grey levels, coloured on the client. */
function useGrey(h: AiHeatmapDto, onError: (m: string) => void): ImageData | null {
  const [grey, setGrey] = useState<ImageData | null>(null);
  const report = useRef(onError);
  report.current = onError;
  useEffect(() => {
    const ac = new AbortController();
    (async () => {
      const res = await fetch(h.url, { credentials: 'same-origin', signal: ac.signal });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bitmap = await createImageBitmap(await res.blob(), {
        colorSpaceConversion: 'none',
        premultiplyAlpha: 'none',
      });
      const c = document.createElement('canvas');
      c.width = bitmap.width;
      c.height = bitmap.height;
      const ctx = c.getContext('2d', { willReadFrequently: true });
      if (!ctx) throw new Error('no 2D canvas');
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      return ctx.getImageData(0, 0, c.width, c.height);
    })().then(
      (d) => !ac.signal.aborted && setGrey(d),
      (e: unknown) =>
        !ac.signal.aborted &&
        report.current(
          `The heat map “${h.label || h.name}” could not be read: ${e instanceof Error ? e.message : String(e)}`,
        ),
    );
    return () => ac.abort();
  }, [h.url, h.label, h.name]);
  return grey;
}

/**
 * One heat map: a canvas of its own cells, coloured here, laid over its region of the slide by one
 * CSS transform (the view's image → screen map with the cell size): it follows pan, zoom and
 * rotation as the tiles do, and is smoothed between cell centres by the browser.
 */
function Heatmap({
  h,
  t,
  colourMap,
  opacity,
  onError,
}: {
  h: AiHeatmapDto;
  t: Affine;
  colourMap: ColourMap;
  opacity: number;
  onError: (m: string) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const grey = useGrey(h, onError);
  useEffect(() => {
    const c = canvas.current;
    if (!grey || !c) return;
    const coloured = new ImageData(new Uint8ClampedArray(grey.data), grey.width, grey.height);
    colourise(coloured.data, colourMap);
    c.getContext('2d')?.putImageData(coloured, 0, 0);
  }, [grey, colourMap]);
  // The PNG's own size (the DTO says the same): the cells are mapped onto the region whatever it is.
  const w = grey?.width ?? h.width;
  const hh = grey?.height ?? h.height;
  return (
    <canvas
      ref={canvas}
      className="ai-heatmap"
      width={w}
      height={hh}
      style={{ transform: css(heatmapMatrix(t, h.region, w, hh)), opacity }}
      data-testid="ai-heatmap"
      data-heatmap-id={h.id}
      data-ready={grey ? 'true' : 'false'}
    />
  );
}

const ringD = (ring: readonly (readonly [number, number])[]): string =>
  ring.length === 0 ? '' : `M${ring.map(([x, y]) => `${x},${y}`).join('L')}Z`;

function findingPath(f: AiFindingDto): { d: string; dot: boolean } {
  const g = f.geometry;
  switch (f.kind) {
    case 'point':
    case 'multipoint':
      // Zero-length segments with round caps: dots of one screen size at any zoom.
      return { d: g.points.map(([x, y]) => `M${x},${y}h0`).join(''), dot: true };
    case 'line':
    case 'polyline':
      return { d: `M${g.points.map(([x, y]) => `${x},${y}`).join('L')}`, dot: false };
    case 'rectangle': {
      const [a, b] = [g.points[0], g.points[1] ?? g.points[0]];
      if (!a || !b) return { d: '', dot: false };
      return { d: `M${a[0]},${a[1]}H${b[0]}V${b[1]}H${a[0]}Z`, dot: false };
    }
    case 'ellipse': {
      const [a, b] = [g.points[0], g.points[1] ?? g.points[0]];
      if (!a || !b) return { d: '', dot: false };
      const rx = Math.abs(b[0] - a[0]) / 2;
      const ry = Math.abs(b[1] - a[1]) / 2;
      const cx = (a[0] + b[0]) / 2;
      const cy = (a[1] + b[1]) / 2;
      return {
        d: `M${cx - rx},${cy}a${rx},${ry} 0 1,0 ${2 * rx},0a${rx},${ry} 0 1,0 ${-2 * rx},0Z`,
        dot: false,
      };
    }
    default: {
      const parts = g.parts ?? [{ points: g.points, holes: g.holes }];
      return {
        d: parts.map((p) => [p.points, ...(p.holes ?? [])].map(ringD).join('')).join(''),
        dot: false,
      };
    }
  }
}

/** One layer's findings, in image pixels (the group around them carries the view's transform). */
const Findings = memo(function Findings({
  runId,
  findings,
  selectedId,
}: {
  runId: string;
  findings: AiFindingDto[];
  selectedId: string | null;
}) {
  const paths = findings.map((f) => ({ f, ...findingPath(f) }));
  return (
    <g className="ai-findings" data-run-id={runId}>
      {/* A dark casing under every outline keeps the dashes legible on pale and dark tissue alike. */}
      <g className="ai-casing">
        {paths.map(({ f, d, dot }) => (
          <path key={f.id} d={d} className={dot ? 'dot' : undefined} vectorEffect="non-scaling-stroke" />
        ))}
      </g>
      {paths.map(({ f, d, dot }) => (
        <path
          key={f.id}
          d={d}
          fillRule="evenodd"
          className={`ai-finding${dot ? ' dot' : ''}${f.verdict ? ` ${f.verdict}` : ''}${f.id === selectedId ? ' selected' : ''}`}
          vectorEffect="non-scaling-stroke"
          data-testid="ai-finding"
          data-finding-id={f.id}
          data-verdict={f.verdict ?? ''}
          data-score={f.score ?? ''}
        />
      ))}
    </g>
  );
});

/** A layer's findings that meet the drawn area (the same array until the area changes). */
function CulledFindings({
  runId,
  findings,
  area,
  selectedId,
}: {
  runId: string;
  findings: AiFindingDto[];
  area: Rect | null;
  selectedId: string | null;
}) {
  const drawn = useMemo(() => (area ? cullFindings(findings, area) : findings), [findings, area]);
  return <Findings runId={runId} findings={drawn} selectedId={selectedId} />;
}

/**
 * Algorithms' output over the slide, under the pathologists' annotations: heat maps coloured on
 * the client and findings drawn in the AI style (dashed, on a dark casing; never a class colour).
 * It never takes the pointer: a click (a press let go where it started) that no annotation tool
 * claimed selects the finding under it, so a drag still pans.
 */
export function AiOverlay({ transform: t, shown, selected, onSelect, onError, onPane }: Props) {
  const root = useRef<HTMLDivElement>(null);
  const paneRef = useRef(onPane);
  paneRef.current = onPane;
  useEffect(() => {
    paneRef.current?.(root.current?.parentElement ?? null);
    return () => paneRef.current?.(null);
  }, []);
  const latest = useRef({ t, shown, onSelect });
  latest.current = { t, shown, onSelect };

  useEffect(() => {
    const pane = root.current?.parentElement;
    if (!pane) return;
    let down: { e: PointerEvent; at: number } | null = null;
    const onDown = (e: PointerEvent) => {
      down = e.button === 0 ? { e, at: performance.now() } : null;
    };
    const onUp = (e: PointerEvent) => {
      const d = down;
      down = null;
      // An annotation tool claimed the press (it selected, moved or drew something).
      if (!d || d.e.defaultPrevented || performance.now() - d.at > CLICK_MS) return;
      if (Math.hypot(e.clientX - d.e.clientX, e.clientY - d.e.clientY) > CLICK_PX) return;
      const { t, shown, onSelect } = latest.current;
      if (!shown.some((l) => l.findings.length > 0)) return;
      const r = pane.getBoundingClientRect();
      const [a, b, c, dd, ex, fy] = t;
      const det = a * dd - b * c;
      if (det === 0) return;
      const sx = e.clientX - r.left - ex;
      const sy = e.clientY - r.top - fy;
      const p = { x: (dd * sx - c * sy) / det, y: (a * sy - b * sx) / det };
      const tol = HIT_PX / (Math.hypot(a, b) || 1);
      for (let i = shown.length - 1; i >= 0; i--) {
        const hit = topmostHit(shown[i]!.findings, p, tol);
        if (hit) return onSelect({ runId: shown[i]!.layer.run.id, findingId: hit.id });
      }
      onSelect(null);
    };
    pane.addEventListener('pointerdown', onDown, true);
    window.addEventListener('pointerup', onUp, true);
    return () => {
      pane.removeEventListener('pointerdown', onDown, true);
      window.removeEventListener('pointerup', onUp, true);
    };
  }, []);

  // The pane's size, for the part of the slide in view.
  const [size, setSize] = useState<{ w: number; h: number } | null>(null);
  useEffect(() => {
    const pane = root.current?.parentElement;
    if (!pane) return;
    const ro = new ResizeObserver(() => setSize({ w: pane.clientWidth, h: pane.clientHeight }));
    ro.observe(pane);
    return () => ro.disconnect();
  }, []);
  const cut = useRef<{ area: Rect; zoom: number } | null>(null);
  if (size && size.w > 0 && size.h > 0) {
    const c = cut.current;
    if (!c || !contains(c.area, viewRect(t, size.w, size.h)) || zoomOf(t) / c.zoom > ZOOM_RECUT)
      cut.current = { area: viewRect(t, size.w, size.h, MARGIN), zoom: zoomOf(t) };
  }
  const area = cut.current?.area ?? null;

  return (
    <div ref={root} className="ai-overlay" data-testid="ai-overlay" data-layers={shown.length}>
      {shown.map(({ layer, view }) =>
        layer.heatmaps.map((h) => (
          <Heatmap
            key={`${layer.run.id}/${h.id}`}
            h={h}
            t={t}
            colourMap={view.colourMap}
            opacity={view.opacity}
            onError={onError}
          />
        )),
      )}
      <svg className="ai-findings-svg">
        <g transform={`matrix(${t.join(' ')})`}>
          {/* Outlines a little more opaque than the layer's heat maps: still legible when those are faint. */}
          {shown.map(({ layer, view, findings }) => (
            <g key={layer.run.id} opacity={Math.min(1, view.opacity + 0.3)}>
              <CulledFindings
                runId={layer.run.id}
                findings={findings}
                area={area}
                selectedId={selected?.runId === layer.run.id ? selected.findingId : null}
              />
            </g>
          ))}
        </g>
      </svg>
    </div>
  );
}
