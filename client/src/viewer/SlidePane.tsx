import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import type { SlideDto } from '../../../protocol/index.ts';
import { dziFilesUrl } from '../api.ts';
import { useConversion } from './useConversion.ts';
import { defaultAdjustments, filterSpec, parseRendering, pixelFilter } from './adjust.ts';
import { AdjustPanel } from './Adjustments.tsx';
import type { Affine } from './geometry.ts';
import { OsdController, type OsdHandlers } from './osd.ts';
import { firstDrawingOr, firstViewShown, viewMoving } from './annotation-early.ts';
import { composeView, download, toPngBlob, viewFileName } from './saveView.ts';
import { scaleBar } from './scalebar.ts';
import { magnificationReadout, normalizeRotation, type Power, type ViewState } from './viewport.ts';

export interface Frame {
  view: ViewState;
  transform: Affine;
  /** Every tile the view needs is drawn (OpenSeadragon's fully loaded). */
  loaded: boolean;
}

interface Props {
  slide: SlideDto;
  power: Power;
  initial: ViewState | null;
  rotation: number;
  /** Receives the controller once created, and null when it goes away. */
  onController: (c: OsdController | null) => void;
  onOpen?: () => void;
  onTarget?: (v: ViewState) => void;
  onSettled?: (v: ViewState) => void;
  onFrame?: (f: Omit<Frame, 'loaded'>) => void;
  /** The user pressed, dragged or scrolled on the slide. */
  onInteract?: () => void;
  overlay?: (f: Frame) => ReactNode;
  /** Drawn over the navigator (minimap), given the image → navigator element transform. */
  navigatorOverlay?: (transform: Affine) => ReactNode;
  caption?: ReactNode;
  /** A note shown at the top of the pane (e.g. how a comparison is synchronised). */
  notice?: ReactNode;
}

const BAR_MAX_PX = 160;

/** How long Save view waits for the field's tiles before saving what is drawn. */
const SAVE_WAIT_MS = 8000;

/** `GET /api/slides/{id}` answers with the rendering text too (SlideDetailDto); a listed slide has none. */
function renderingOf(slide: SlideDto): string | null {
  const r = (slide as { rendering?: unknown }).rendering;
  return typeof r === 'string' ? r : null;
}

/** µm per image pixel along the screen's horizontal: after a quarter turn that is the image's y axis. */
function mppAcross(slide: SlideDto, rotation: number): number | null {
  const quarter = normalizeRotation(rotation) % 180 === 90;
  return quarter ? (slide.mppY ?? slide.mppX) : (slide.mppX ?? slide.mppY);
}

const READOUT_TITLE = {
  objective: 'Magnification relative to the scanner objective',
  mpp: 'Objective power unknown: magnification derived from µm/px (10x ≈ 1 µm/px)',
  none: 'No objective power or µm/px: zoom in % of full resolution',
} as const;

const DIGITAL_TITLE = {
  objective: 'Digital zoom: beyond the scanner objective, pixels are enlarged, not resolved',
  mpp: 'Digital zoom: beyond one screen pixel per scanned pixel, pixels are enlarged, not resolved',
  none: 'Digital zoom: beyond one screen pixel per scanned pixel, pixels are enlarged, not resolved',
} as const;

function ScaleBar({ slide, view }: { slide: SlideDto; view: ViewState }) {
  const mpp = mppAcross(slide, view.rotation);
  if (mpp === null) {
    return (
      <div className="scalebar unknown" title="The slide carries no µm/px calibration">
        No scale: µm/px unknown
      </div>
    );
  }
  const spec = scaleBar(mpp / view.imageZoom, BAR_MAX_PX);
  if (!spec) return null;
  return (
    <div className="scalebar" data-um={spec.um}>
      <div className="scalebar-line" style={{ width: `${spec.px}px` }} />
      <div className="scalebar-label">{spec.label}</div>
    </div>
  );
}

/**
 * The pane's state as tests and benchmarks read it, written the moment OpenSeadragon reports it:
 * `data-fully-loaded` (every tile of the view at the resolution it needs drawn) and `data-settled`
 * (false from a pan/zoom/rotate request until its animation comes to rest). Rendered from React
 * state they changed a render later, 10-50 ms after the event while a step's frames kept the page
 * busy, and the benchmarks measured that render rather than the view.
 */
function markPane(el: HTMLElement | null, key: 'fullyLoaded' | 'settled', v: boolean): void {
  if (el) el.dataset[key] = v ? 'true' : 'false';
}

/** One OpenSeadragon viewer with its scale bar, magnification read-out and overlays. */
export function SlidePane(props: Props) {
  const { slide, power } = props;
  const host = useRef<HTMLDivElement>(null);
  const [frame, setFrame] = useState<Omit<Frame, 'loaded'> | null>(null);
  const [nav, setNav] = useState<{ host: HTMLElement; transform: Affine } | null>(null);
  const [status, setStatus] = useState<'opening' | 'open' | 'failed'>('opening');
  const [failure, setFailure] = useState('');
  const [loaded, setLoaded] = useState(false);
  const [attempt, setAttempt] = useState(0);
  // Callbacks change on every render of the page; the viewer must not be rebuilt for that.
  const latest = useRef(props);
  latest.current = props;
  // The view at creation time only: later URL changes come from the viewer itself.
  const start = useRef({ initial: props.initial, rotation: props.rotation });
  const ctl = useRef<OsdController | null>(null);
  const paneRef = useRef<HTMLDivElement>(null);

  const rendering = renderingOf(slide);
  const layout = useMemo(() => parseRendering(rendering), [rendering]);
  const [adj, setAdj] = useState(() => defaultAdjustments(layout));
  const [adjOpen, setAdjOpen] = useState(false);
  const filter = useMemo(() => pixelFilter(filterSpec(adj, layout)), [adj, layout]);
  const filtered = filter !== null;
  const [saving, setSaving] = useState<'idle' | 'saving' | { error: string }>('idle');

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const handlers: OsdHandlers = {
      open: () => {
        setStatus('open');
        latest.current.onOpen?.();
      },
      openFailed: (msg) => {
        setFailure(msg);
        setStatus('failed');
      },
      fullyLoaded: (v) => {
        markPane(paneRef.current, 'fullyLoaded', v);
        setLoaded(v);
        if (v) firstViewShown();
      },
      frame: (view, transform) => {
        const f = { view, transform };
        setFrame(f);
        latest.current.onFrame?.(f);
      },
      target: (v) => {
        markPane(paneRef.current, 'settled', false);
        viewMoving(true);
        latest.current.onTarget?.(v);
      },
      settled: (v) => {
        markPane(paneRef.current, 'settled', true);
        viewMoving(false);
        latest.current.onSettled?.(v);
      },
      interact: () => latest.current.onInteract?.(),
      navigatorFrame: (transform, navHost) => setNav({ host: navHost, transform }),
    };
    // Created a microtask later: React's StrictMode mounts, unmounts and remounts at once, and a
    // viewer torn down while its descriptor is still in flight logs assertion noise when it lands.
    let c: OsdController | null = null;
    let cancelled = false;
    queueMicrotask(() => {
      if (cancelled) return;
      c = new OsdController(
        el,
        {
          filesUrl: dziFilesUrl(slide.id),
          width: slide.width,
          height: slide.height,
          tileSize: slide.tileSize,
        },
        {
          maxImageZoom: Math.max(4, 50 / power.base),
          initial: start.current.initial,
          rotation: start.current.rotation,
          navigator: true,
          aheadAfter: firstDrawingOr(slide.id),
        },
        handlers,
      );
      ctl.current = c;
      latest.current.onController(c);
    });
    return () => {
      cancelled = true;
      if (c) {
        ctl.current = null;
        latest.current.onController(null);
        c.destroy();
      }
      setFrame(null);
      setNav(null);
      markPane(paneRef.current, 'fullyLoaded', false);
      markPane(paneRef.current, 'settled', true);
      setLoaded(false);
      setStatus('opening');
    };
  }, [slide.id, power.base, attempt]);

  // While the slide converts its tiles come from its source; once the stored pyramid is published the
  // pane draws from it, laid over the same place, with no reload and no jump.
  const conversion = useConversion(slide);
  useEffect(() => {
    if (status === 'open' && conversion.stored) ctl.current?.replaceTiles('?stored');
  }, [status, conversion.stored]);

  // Into the tiles, so the canvas holds what is shown (and overlays keep their own colours).
  useEffect(() => {
    if (status === 'open') ctl.current?.setTileFilter(filter);
  }, [status, filter]);

  const saveView = async (): Promise<void> => {
    const c = ctl.current;
    if (!c?.isOpen || saving === 'saving') return;
    setSaving('saving');
    try {
      // What is still loading would be saved blurred: give the field's tiles a moment.
      const until = performance.now() + SAVE_WAIT_MS;
      while (!c.fullyLoaded() && performance.now() < until) await new Promise((r) => setTimeout(r, 100));
      const d = c.drawing();
      if (!c.isOpen || !d) throw new Error('the viewer is gone');
      const v = c.view(true);
      const mpp = mppAcross(slide, v.rotation);
      const out = composeView({
        canvas: d.canvas,
        cssWidth: d.cssWidth,
        name: slide.name,
        umPerScreenPx: mpp === null ? null : mpp / v.imageZoom,
        background: paneRef.current ? getComputedStyle(paneRef.current).backgroundColor : '#0f1114',
      });
      download(await toPngBlob(out), viewFileName(slide.name, v.x, v.y));
      setSaving('idle');
    } catch (e) {
      setSaving({ error: e instanceof Error ? e.message : String(e) });
    }
  };

  const view = frame?.view;
  const readout = view ? magnificationReadout(view.imageZoom, power) : null;
  return (
    <div
      ref={paneRef}
      className="pane"
      data-slide-id={slide.id}
      data-status={status}
      // Their initial values; from then on written by markPane as OpenSeadragon reports.
      data-fully-loaded="false"
      data-settled="true"
      data-x={view?.x}
      data-y={view?.y}
      data-image-zoom={view?.imageZoom}
      data-rotation={view?.rotation}
      data-filtered={filtered ? 'true' : 'false'}
    >
      <div ref={host} className="osd" data-testid="osd" />
      {frame && status === 'open' && props.overlay?.({ ...frame, loaded })}
      {nav &&
        status === 'open' &&
        props.navigatorOverlay &&
        createPortal(props.navigatorOverlay(nav.transform), nav.host)}
      {props.caption && <div className="pane-caption">{props.caption}</div>}
      {conversion.state && (
        <div
          className={`pane-conversion ${conversion.state}`}
          role="status"
          data-testid="conversion"
          data-state={conversion.state}
          title={conversion.reason ?? undefined}
        >
          {conversion.state === 'converting'
            ? `Converting, ${conversion.percent} %`
            : conversion.state === 'source'
              ? 'Conversion failed: shown from the scanner file'
              : 'Conversion failed'}
        </div>
      )}
      {props.notice && (
        <div className="pane-notice" role="note" data-testid="pane-notice">
          {props.notice}
        </div>
      )}
      {view && readout && status === 'open' && (
        <div className="pane-foot">
          <ScaleBar slide={slide} view={view} />
          <div
            className={`mag-readout${readout.digital ? ' digital' : ''}`}
            data-testid="magnification"
            data-digital={readout.digital ? 'true' : 'false'}
            title={readout.digital ? DIGITAL_TITLE[power.source] : READOUT_TITLE[power.source]}
          >
            {readout.text}
          </div>
        </div>
      )}
      {status === 'open' && (
        <div className="pane-tools">
          {typeof saving === 'object' && (
            <span className="pane-tools-error" role="alert">
              Not saved: {saving.error}
            </span>
          )}
          <button
            type="button"
            className={`tbtn${adjOpen ? ' on' : ''}${filtered ? ' adjusted' : ''}`}
            aria-expanded={adjOpen}
            onClick={() => setAdjOpen((o) => !o)}
            title="Brightness, contrast, gamma and channels of this pane"
            data-testid="adjust-button"
          >
            Adjust{filtered ? ' •' : ''}
          </button>
          <button
            type="button"
            className="tbtn"
            onClick={() => void saveView()}
            disabled={saving === 'saving'}
            title="Save this view as a PNG with a scale bar and the slide's name"
            data-testid="save-view"
          >
            {saving === 'saving' ? 'Saving…' : 'Save view'}
          </button>
        </div>
      )}
      {adjOpen && status === 'open' && (
        <AdjustPanel
          adj={adj}
          layout={layout}
          rendering={rendering}
          onChange={setAdj}
          onClose={() => setAdjOpen(false)}
        />
      )}
      {status === 'opening' && (
        <div className="pane-state">
          <div className="spinner" aria-hidden="true" />
          <span>Opening slide…</span>
        </div>
      )}
      {status === 'failed' && (
        <div className="pane-state" role="alert">
          <strong>The slide’s tiles could not be loaded.</strong>
          <span className="muted small">{failure}</span>
          <button type="button" className="btn" onClick={() => setAttempt((a) => a + 1)}>
            Retry
          </button>
        </div>
      )}
    </div>
  );
}
