import './viewer.css';
import '../review/review.css';
import '../ai/ai.css';
import { useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import type { SlideDto } from '../../../protocol/index.ts';
import { AiOverlay } from '../ai/AiOverlay.tsx';
import { AiPanel } from '../ai/AiPanel.tsx';
import { boxInside } from '../ai/findings.ts';
import { useAiLayers } from '../ai/useAiLayers.ts';
import {
  ApiError,
  carriedSlide,
  getSession,
  getSlide,
  isNotFound,
  NetworkError,
  takeCarriedSlide,
} from '../api.ts';
import { useMe } from '../auth/session.ts';
import { UserMenu } from '../auth/UserMenu.tsx';
import { formatLabel } from '../library/filter.ts';
import { AnnotationsPanel } from '../review/AnnotationsPanel.tsx';
import { KIND_LABELS } from '../review/constants.ts';
import { ReviewBar } from '../review/ReviewBar.tsx';
import { ReviewPanel } from '../review/ReviewPanel.tsx';
import { useReviewRoom } from '../review/useReviewRoom.ts';
import { ShareDialog } from '../shares/ShareDialog.tsx';
import { AccessBadges } from '../ui/AccessBadges.tsx';
import { KeyboardHelp } from '../ui/KeyboardHelp.tsx';
import { ShareIcon } from '../ui/icons.tsx';
import { Link } from '../ui/router.tsx';
import { Failure, NotFound, ServerDown, Spinner } from '../ui/states.tsx';
import { AnnotationOverlay, type Person } from './AnnotationOverlay.tsx';
import { CaseBar } from './CaseBar.tsx';
import { fitViewToBox, geometryBounds } from './fit-box.ts';
import { ComparePane, CompareControls } from './Compare.tsx';
import type { Mpp } from './geometry.ts';
import { InfoPanel } from './InfoPanel.tsx';
import { KEY_HELP, type Tool } from './keys.ts';
import { measureShape, measureText } from './measure-shapes.ts';
import { MeasureOverlay } from './MeasureOverlay.tsx';
import { NavigatorOutlines } from './NavigatorOutlines.tsx';
import type { OsdController } from './osd.ts';
import { SlidePane } from './SlidePane.tsx';
import { Toolbar } from './Toolbar.tsx';
import { useAnnotating, type Annotating } from './useAnnotating.ts';
import { mppOf, useCompare } from './useCompare.ts';
import { useViewerKeys } from './useViewerKeys.ts';
import {
  basePower,
  imageZoomFor,
  parseViewParams,
  urlViewOf,
  viewStateOf,
  writeViewParams,
  type ViewState,
} from './viewport.ts';

type Load =
  | { status: 'loading' }
  | { status: 'ready'; slide: SlideDto }
  | { status: 'missing' }
  /** A review's link opened by someone not invited to it (the server's words). */
  | { status: 'not-invited'; message: string }
  | { status: 'down' }
  | { status: 'error'; message: string };

/** Route component for `/view/{id}`: fetches the slide, then shows the workspace or a clear state. */
export default function ViewerPage({ slideId }: { slideId: string }) {
  // A slide the page carried is shown in the first render. Otherwise a spinner's render and commit,
  // then a task for the answer, came first: the viewer was made ~15 ms later (medians of 10 loads).
  const [load, setLoad] = useState<Load>(() => {
    const slide = carriedSlide(slideId);
    return slide ? { status: 'ready', slide } : { status: 'loading' };
  });
  const [attempt, setAttempt] = useState(0);
  const startedWith = useRef(load.status === 'ready' ? slideId : null);

  useEffect(() => {
    if (attempt === 0 && startedWith.current === slideId) {
      takeCarriedSlide(slideId);
      return;
    }
    const ac = new AbortController();
    setLoad({ status: 'loading' });
    getSlide(slideId, ac.signal).then(
      (slide) => setLoad({ status: 'ready', slide }),
      (e: unknown) => {
        if (ac.signal.aborted) return;
        // A malformed id can name no slide either. A review's link says why the slide is not
        // there for this user when the reason is that they were not invited.
        if (isNotFound(e) || (e instanceof ApiError && e.status === 400)) {
          const session = new URLSearchParams(window.location.search).get('session');
          if (!session) return setLoad({ status: 'missing' });
          getSession(session, ac.signal).then(
            () => setLoad({ status: 'missing' }),
            (se: unknown) =>
              !ac.signal.aborted &&
              setLoad(
                se instanceof ApiError && se.status === 403
                  ? { status: 'not-invited', message: se.message }
                  : { status: 'missing' },
              ),
          );
        } else if (e instanceof NetworkError) setLoad({ status: 'down' });
        else setLoad({ status: 'error', message: e instanceof Error ? e.message : String(e) });
      },
    );
    return () => ac.abort();
  }, [slideId, attempt]);

  useEffect(() => {
    document.title = load.status === 'ready' ? `${load.slide.name} · Tessera` : 'Tessera viewer';
  }, [load]);

  const retry = () => setAttempt((a) => a + 1);
  return (
    <div className="viewer-page">
      {load.status === 'loading' && <Spinner label="Loading slide…" />}
      {load.status === 'missing' && (
        <NotFound
          detail={
            <>
              There is no slide with the id <code>{slideId}</code> on this server.
            </>
          }
        />
      )}
      {load.status === 'not-invited' && (
        <NotFound
          what={load.message}
          detail={<>This link opens a live review. Ask the person who sent it to invite you.</>}
        />
      )}
      {load.status === 'down' && <ServerDown onRetry={retry} />}
      {load.status === 'error' && <Failure message={load.message} onRetry={retry} />}
      {load.status === 'ready' && <Workspace slide={load.slide} />}
    </div>
  );
}

const URL_WRITE_MS = 300;

/** The tools offered, in order: selecting, then each kind a person draws. */
const TOOLS: readonly Tool[] = [
  'select',
  'point',
  'line',
  'polyline',
  'rectangle',
  'ellipse',
  'polygon',
  'freehand',
];

function FreshCard({ ann, mpp }: { ann: Annotating; mpp: Mpp | null }) {
  const f = ann.fresh;
  const shape = ann.freshShape;
  if (!f || !shape) return null;
  const m = measureText(measureShape(shape.kind, shape.geometry, mpp));
  return (
    <div
      className={`fresh-card${f.local ? ' unsaved' : ''}`}
      role="status"
      data-testid="fresh-shape"
      data-state={f.local ? 'unsaved' : 'saved'}
    >
      <span className="fresh-what">
        <strong>{KIND_LABELS[shape.kind]}</strong>
        {m.main && <span className="fresh-measure"> {m.main}</span>}
        {m.sub && <span className="muted"> · {m.sub}</span>}
      </span>
      {f.local ? (
        <span className="fresh-state warn" data-testid="view-only">
          Not saved: {f.message}
          <span className="muted small fresh-hint">
            The measurement stays until you discard it; annotating this slide happens in a review session its
            own site hosts.
          </span>
        </span>
      ) : (
        <span className="fresh-state muted">Saved</span>
      )}
      {!f.local && (
        <button type="button" className="btn small" onClick={ann.keep} title="Keep it (Enter)">
          Keep <kbd>Enter</kbd>
        </button>
      )}
      <button
        type="button"
        className="btn small"
        onClick={ann.discard}
        title="Discard it (Esc)"
        data-testid="discard-shape"
      >
        Discard <kbd>Esc</kbd>
      </button>
    </div>
  );
}

function Workspace({ slide }: { slide: SlideDto }) {
  const me = useMe();
  // Only the slide's own site shares it (a shared slide cannot be passed on).
  const canShare = me.permissions.share && slide.access === 'site';
  const [sharing, setSharing] = useState(false);
  const power = useMemo(() => basePower(slide.objectivePower, slide.mppX), [slide]);
  const mpp = useMemo(() => mppOf(slide), [slide]);
  const [start] = useState(() => {
    const { view, rotation } = parseViewParams(window.location.search);
    return {
      view: view ? viewStateOf(view, power) : null,
      rotation,
      compare: new URLSearchParams(window.location.search).get('compare'),
    };
  });
  const primary = useRef<OsdController | null>(null);
  const compare = useCompare(slide, primary, start.compare);
  const [sessionId, setSessionId] = useState<string | null>(() =>
    new URLSearchParams(window.location.search).get('session'),
  );
  const [panel, setPanel] = useState<'annotations' | 'review' | 'ai' | 'info'>(() =>
    sessionId ? 'review' : 'annotations',
  );
  const [ended, setEnded] = useState<string | null>(null);
  const room = useReviewRoom(sessionId, me.user.id, primary);
  const maxImageZoom = Math.max(4, 50 / power.base);
  const ann = useAnnotating({ slide, me, sessionId, room, controller: primary, maxImageZoom });
  // The list follows the shapes in a pass the browser may interrupt: with thousands of annotations
  // it is the slower to render, and the view is what a reader looks at first.
  const listed = useDeferredValue(ann.annotations);
  const listedVisible = useDeferredValue(ann.visible);
  const latestRoom = useRef(room);
  latestRoom.current = room;
  const [help, setHelp] = useState(false);
  const lastWrite = useRef(0);
  const ai = useAiLayers(slide.id, me.user.role);
  const aiPane = useRef<HTMLElement | null>(null);

  /** A finding stepped to is brought into view unless it is wholly in view already. */
  const showFinding = useCallback(
    (g: Parameters<typeof geometryBounds>[0]) => {
      const c = primary.current;
      const el = aiPane.current;
      if (!c?.isOpen || !el) return;
      const box = geometryBounds(g);
      const now = c.imageBounds();
      if (now && boxInside(box, now)) return;
      const r = el.getBoundingClientRect();
      c.setView(
        fitViewToBox(box, { width: r.width, height: r.height }, c.view(false).rotation, {
          margin: 0.15,
          minExtent: 256,
          maxImageZoom,
        }),
      );
      latestRoom.current?.interacted();
    },
    [maxImageZoom],
  );

  const writeUrl = useCallback(
    (v: ViewState, force: boolean) => {
      const now = performance.now();
      if (!force && now - lastWrite.current < URL_WRITE_MS) return;
      lastWrite.current = now;
      const search = writeViewParams(window.location.search, urlViewOf(v, power));
      try {
        window.history.replaceState(window.history.state, '', `${window.location.pathname}${search}`);
      } catch {
        // Some browsers cap replaceState calls per second; the next settle writes it.
      }
    },
    [power],
  );

  // The comparison slide travels in the URL too, so a copied link reopens both.
  useEffect(() => {
    const p = new URLSearchParams(window.location.search);
    if (compare.compareId) p.set('compare', compare.compareId);
    else p.delete('compare');
    const s = p.toString();
    window.history.replaceState(window.history.state, '', `${window.location.pathname}${s ? `?${s}` : ''}`);
  }, [compare.compareId]);

  // The session travels in the URL: the link is the invitation.
  useEffect(() => {
    const p = new URLSearchParams(window.location.search);
    if (sessionId) p.set('session', sessionId);
    else p.delete('session');
    const q = p.toString();
    window.history.replaceState(window.history.state, '', `${window.location.pathname}${q ? `?${q}` : ''}`);
  }, [sessionId]);

  const endedReason = room?.status.kind === 'ended' ? room.status.reason : null;
  useEffect(() => {
    if (endedReason) {
      setEnded(endedReason);
      setSessionId(null);
      setPanel('review');
    }
  }, [endedReason]);

  // Session keys: undo / redo; moving the view by keyboard stops following.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const r = latestRoom.current;
      const t = e.target;
      if (
        !r ||
        (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))
      )
        return;
      const mod = e.ctrlKey || e.metaKey;
      if (mod && (e.key === 'z' || e.key === 'Z')) {
        e.preventDefault();
        if (e.shiftKey) r.redo();
        else r.undo();
      } else if (mod && (e.key === 'y' || e.key === 'Y')) {
        e.preventDefault();
        r.redo();
      } else if (/^(Arrow\w+|\+|-|=|0)$/.test(e.key)) r.interacted();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const people = useMemo(
    () => new Map<string, Person>((room?.session.participants ?? []).map((p) => [p.userId, p])),
    [room?.session.participants],
  );

  const setMagnification = useCallback(
    (m: number) => primary.current?.zoomToImageZoom(imageZoomFor(m, power)),
    [power],
  );

  useViewerKeys({
    controller: primary,
    power,
    help,
    setHelp,
    onMagnification: setMagnification,
    maxImageZoom,
    suspended: sharing,
    onTool: (t) => TOOLS.includes(t) && ann.setTool(t),
    drafting: ann.draft.drafting,
    onEscape: ann.escape,
    onEnter: ann.keep,
    onDelete: ann.deleteSelected,
    onAi: (a) => {
      if (a.kind === 'ai-step') {
        const f = ai.step(a.step);
        if (f) {
          setPanel('ai');
          showFinding(f.geometry);
        }
      } else if (a.target === 'finding') ai.judgeSelected(a.verdict);
      else ai.judgeSlide(null, a.verdict === 'accept' ? 'toggle-accept' : 'toggle-reject');
    },
  });

  const compareReady = compare.compare.status === 'ready' ? compare.compare.slide : null;
  return (
    <div className="workspace">
      <header className="viewer-bar">
        <Link to="/" className="back" title="Back to the slide library">
          ← Library
        </Link>
        <div className="slide-title">
          <span className="slide-title-name" title={slide.name}>
            {slide.name}
          </span>
          <span className="muted small">
            {formatLabel(slide.sourceFormat)}
            <AccessBadges slide={slide} />
          </span>
        </div>
        <Toolbar
          power={power}
          maxMagnification={maxImageZoom * power.base}
          onMagnification={setMagnification}
          onFit={() => primary.current?.fit()}
          onRotate={(d) => primary.current?.rotateBy(d)}
          tools={TOOLS}
          tool={ann.tool}
          onTool={ann.setTool}
          classes={ann.palette.classes}
          cls={ann.cls}
          onClass={ann.setCls}
        >
          <CompareControls compare={compare} />
          <div className="tool-group">
            <button
              type="button"
              className={`tbtn${panel === 'review' ? ' on' : ''}`}
              onClick={() => setPanel('review')}
              title="Review sessions: a live second opinion with people at other sites"
              data-testid="review-button"
            >
              Review{room ? ' ●' : ''}
            </button>
          </div>
          {canShare && (
            <div className="tool-group">
              <button
                type="button"
                className="tbtn"
                onClick={() => setSharing(true)}
                title="Share this slide with a person or a site"
                data-testid="share-button"
              >
                <ShareIcon /> Share
              </button>
            </div>
          )}
          <button type="button" className="tbtn" onClick={() => setHelp(true)} title="Keyboard shortcuts (?)">
            ?
          </button>
        </Toolbar>
        <UserMenu compact />
      </header>
      {power.source === 'mpp' && (
        <div className="notice" role="note">
          Objective power unknown: magnification is derived from {mpp?.x} µm/px (10x ≈ 1 µm/px).
        </div>
      )}
      {power.source === 'none' && (
        <div className="notice warn" role="note">
          This slide has neither objective power nor µm/px: no scale bar, zoom shown in % of full resolution,
          measurements in pixels.
        </div>
      )}
      {room && <ReviewBar room={room} />}
      <CaseBar slideId={slide.id} />
      <div className="viewer-body">
        <div className={`panes${compare.compareId ? ' split' : ''}`}>
          <SlidePane
            slide={slide}
            power={power}
            initial={start.view}
            rotation={start.rotation}
            onController={(c) => (primary.current = c)}
            onTarget={compare.onPrimaryTarget}
            onFrame={(f) => {
              writeUrl(f.view, false);
              room?.frame(f.view);
            }}
            onInteract={() => room?.interacted()}
            onSettled={(v) => writeUrl(v, true)}
            caption={compare.compareId ? slide.name : undefined}
            navigatorOverlay={(t) =>
              room && <NavigatorOutlines transform={t} views={room.views} people={people} />
            }
            overlay={(f) => (
              <>
                <AiOverlay
                  transform={f.transform}
                  shown={ai.shown}
                  selected={ai.selected}
                  onSelect={(s) => {
                    ai.select(s);
                    if (s) setPanel('ai');
                  }}
                  onError={ai.report}
                  onPane={(el) => (aiPane.current = el)}
                />
                <AnnotationOverlay
                  transform={f.transform}
                  slideId={slide.id}
                  tilesLoaded={f.loaded}
                  annotations={ann.shown}
                  palette={ann.palette.classes}
                  selectedId={ann.selectedId}
                  onSelect={(id) => {
                    ann.setSelectedId(id);
                    if (id) setPanel('annotations');
                  }}
                  tool={ann.tool}
                  color={ann.cls?.color ?? '#c8c8c8'}
                  editable={ann.editable}
                  suspended={false}
                  onCreate={ann.onCreate}
                  onDraft={ann.draft.set}
                  onMove={ann.onMove}
                  onCursor={room?.cursor}
                  cursors={room?.cursors}
                  views={room?.views}
                  people={people}
                />
                <MeasureOverlay
                  transform={f.transform}
                  shapes={ann.measured}
                  draft={ann.draft}
                  mpp={mpp}
                  onPane={ann.setPane}
                />
              </>
            )}
          />
          {compare.compareId && <ComparePane compare={compare} slide={compareReady} />}
          <FreshCard ann={ann} mpp={mpp} />
          {ai.error && panel !== 'ai' && (
            <div className="viewer-toast ai-toast" role="alert" data-testid="ai-notice">
              <span className="ai-badge">AI</span> {ai.error}
              <button type="button" className="icon-btn" aria-label="Dismiss" onClick={ai.dismissError}>
                ×
              </button>
            </div>
          )}
          {ann.notice && (
            <div className="viewer-toast" role="alert" data-testid="annotation-notice">
              {ann.notice}
            </div>
          )}
        </div>
        <aside className={`side-panel${room ? ' wide' : ''}`}>
          <div className="tabs" role="tablist">
            <button
              type="button"
              role="tab"
              aria-selected={panel === 'annotations'}
              className={panel === 'annotations' ? 'tab on' : 'tab'}
              onClick={() => setPanel('annotations')}
              data-testid="annotations-tab"
            >
              Annotations{ann.annotations.length > 0 ? ` (${ann.annotations.length})` : ''}
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={panel === 'review'}
              className={panel === 'review' ? 'tab on' : 'tab'}
              onClick={() => setPanel('review')}
            >
              Review
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={panel === 'ai'}
              className={panel === 'ai' ? 'tab on' : 'tab'}
              onClick={() => setPanel('ai')}
              data-testid="ai-tab"
              title="Algorithms’ results on this slide"
            >
              AI
              {ai.results.status === 'ready' && ai.results.layers.length > 0
                ? ` (${ai.results.layers.length})`
                : ''}
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={panel === 'info'}
              className={panel === 'info' ? 'tab on' : 'tab'}
              onClick={() => setPanel('info')}
            >
              Slide info
            </button>
          </div>
          {panel === 'annotations' && (
            <AnnotationsPanel
              slideId={slide.id}
              slideName={slide.name}
              annotations={listed}
              visible={listedVisible}
              filter={ann.filter}
              onFilter={ann.setFilter}
              palette={ann.palette}
              mpp={mpp}
              selectedId={ann.selectedId}
              onSelect={ann.setSelectedId}
              onGoTo={ann.goTo}
              ops={ann.ops}
              isAdmin={me.user.role === 'admin'}
              readOnly={!room && slide.access !== 'site'}
              onImported={ann.reload}
            />
          )}
          {panel === 'review' && (
            <ReviewPanel
              slide={slide}
              me={me}
              room={room}
              ended={ended}
              onJoin={(id) => {
                setEnded(null);
                setSessionId(id);
              }}
              onLeave={() => setSessionId(null)}
            />
          )}
          {panel === 'ai' && (
            <AiPanel
              ai={ai}
              slideId={slide.id}
              canRun={
                slide.access === 'site' && ['pathologist', 'lab_manager', 'admin'].includes(me.user.role)
              }
            />
          )}
          {panel === 'info' && <InfoPanel slide={slide} power={power} />}
        </aside>
      </div>
      {help && <KeyboardHelp rows={KEY_HELP} onClose={() => setHelp(false)} />}
      {sharing && <ShareDialog slide={slide} onClose={() => setSharing(false)} />}
    </div>
  );
}
