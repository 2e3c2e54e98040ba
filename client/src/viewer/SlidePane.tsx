import { useEffect, useRef, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import type { SlideDto } from '../../../protocol/index.ts';
import { dziFilesUrl } from '../api.ts';
import type { Affine } from './geometry.ts';
import { OsdController, type OsdHandlers } from './osd.ts';
import { scaleBar } from './scalebar.ts';
import {
  formatMagnification,
  magnificationOf,
  normalizeRotation,
  type Power,
  type ViewState,
} from './viewport.ts';

export interface Frame {
  view: ViewState;
  transform: Affine;
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
  onFrame?: (f: Frame) => void;
  /** The user pressed, dragged or scrolled on the slide. */
  onInteract?: () => void;
  overlay?: (f: Frame) => ReactNode;
  /** Drawn over the navigator (minimap), given the image → navigator element transform. */
  navigatorOverlay?: (transform: Affine) => ReactNode;
  caption?: ReactNode;
}

const BAR_MAX_PX = 160;

const READOUT_TITLE = {
  objective: 'Magnification relative to the scanner objective',
  mpp: 'Objective power unknown: magnification derived from µm/px (10x ≈ 1 µm/px)',
  none: 'No objective power or µm/px: zoom in % of full resolution',
} as const;

function ScaleBar({ slide, view }: { slide: SlideDto; view: ViewState }) {
  // The bar is horizontal on screen: after a quarter turn that is the image's y axis.
  const quarter = normalizeRotation(view.rotation) % 180 === 90;
  const mpp = quarter ? (slide.mppY ?? slide.mppX) : (slide.mppX ?? slide.mppY);
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

/** One OpenSeadragon viewer with its scale bar, magnification read-out and overlays. */
export function SlidePane(props: Props) {
  const { slide, power } = props;
  const host = useRef<HTMLDivElement>(null);
  const [frame, setFrame] = useState<Frame | null>(null);
  const [nav, setNav] = useState<{ host: HTMLElement; transform: Affine } | null>(null);
  const [status, setStatus] = useState<'opening' | 'open' | 'failed'>('opening');
  const [failure, setFailure] = useState('');
  const [loaded, setLoaded] = useState(false);
  // False from a pan/zoom/rotate request until its animation comes to rest (read by the benchmark).
  const [settled, setSettled] = useState(true);
  const [attempt, setAttempt] = useState(0);
  // Callbacks change on every render of the page; the viewer must not be rebuilt for that.
  const latest = useRef(props);
  latest.current = props;
  // The view at creation time only: later URL changes come from the viewer itself.
  const start = useRef({ initial: props.initial, rotation: props.rotation });

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
      fullyLoaded: setLoaded,
      frame: (view, transform) => {
        const f = { view, transform };
        setFrame(f);
        latest.current.onFrame?.(f);
      },
      target: (v) => {
        setSettled(false);
        latest.current.onTarget?.(v);
      },
      settled: (v) => {
        setSettled(true);
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
        },
        handlers,
      );
      latest.current.onController(c);
    });
    return () => {
      cancelled = true;
      if (c) {
        latest.current.onController(null);
        c.destroy();
      }
      setFrame(null);
      setNav(null);
      setLoaded(false);
      setStatus('opening');
    };
  }, [slide.id, power.base, attempt]);

  const view = frame?.view;
  return (
    <div
      className="pane"
      data-slide-id={slide.id}
      data-status={status}
      data-fully-loaded={loaded ? 'true' : 'false'}
      data-settled={settled ? 'true' : 'false'}
    >
      <div ref={host} className="osd" data-testid="osd" />
      {frame && status === 'open' && props.overlay?.(frame)}
      {nav &&
        status === 'open' &&
        props.navigatorOverlay &&
        createPortal(props.navigatorOverlay(nav.transform), nav.host)}
      {props.caption && <div className="pane-caption">{props.caption}</div>}
      {view && status === 'open' && (
        <div className="pane-foot">
          <ScaleBar slide={slide} view={view} />
          <div className="mag-readout" data-testid="magnification" title={READOUT_TITLE[power.source]}>
            {power.source === 'none'
              ? `${Math.round(view.imageZoom * 100)}%`
              : `${power.source === 'mpp' ? '≈' : ''}${formatMagnification(magnificationOf(view.imageZoom, power))}`}
          </div>
        </div>
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
