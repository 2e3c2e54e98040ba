import { lazy, StrictMode, Suspense, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { LOGIN_PATH, loginPath, safeNext } from './auth/login.ts';
import { LoginPage } from './auth/LoginPage.tsx';
import { MeContext, refreshSession, useSession } from './auth/session.ts';
import { prefetchAnnotations, prefetchSlide } from './api.ts';
import { prefetchAnnotationsInWorker } from './viewer/annotation-early.ts';
import { startTileWorker } from './viewer/tile-fetch.ts';
import { caseAccessionOf } from './cases/case-nav.ts';
import { LibraryPage } from './library/LibraryPage.tsx';
import { navigate, usePathname, viewedSlideId } from './ui/router.tsx';
import { NotFound, ServerDown, Spinner } from './ui/states.tsx';
import './ui/base.css';

// OpenSeadragon is the bulk of the bundle: the library page loads without it. Not React.lazy: a
// Suspense boundary that has shown its fallback holds the content back up to 300 ms more once it
// is ready, and the viewer is where every millisecond before the first tile counts.
type ViewerModule = typeof import('./viewer/ViewerPage.tsx');
let viewerModule: ViewerModule | null = null;
let viewerLoading: Promise<ViewerModule> | null = null;
function loadViewer(): Promise<ViewerModule> {
  viewerLoading ??= import('./viewer/ViewerPage.tsx').then(
    (m) => (viewerModule = m),
    (e: unknown) => {
      viewerLoading = null; // a retry asks again
      throw e;
    },
  );
  return viewerLoading;
}

function Viewer({ slideId }: { slideId: string }) {
  const [mod, setMod] = useState(viewerModule);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (mod || failed) return;
    let live = true;
    loadViewer().then(
      (m) => live && setMod(m),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [mod, failed]);
  if (failed) return <ServerDown onRetry={() => setFailed(false)} />;
  if (!mod) return <Spinner label="Loading the viewer…" />;
  return <mod.default key={slideId} slideId={slideId} />;
}
// The dashboard's charts library and the worklist load only on their pages.
const WorklistPage = lazy(() => import('./worklist/WorklistPage.tsx'));
const DashboardPage = lazy(() => import('./dashboard/DashboardPage.tsx'));
const InboxPage = lazy(() => import('./inbox/InboxPage.tsx'));
const CasePage = lazy(() => import('./cases/CasePage.tsx'));
const AdminPage = lazy(() => import('./admin/AdminPage.tsx'));
const AiQaPage = lazy(() => import('./ai-qa/AiQaPage.tsx'));
// Its own chunk and connection, after the page: nothing of it stands before a slide's first tiles.
const RunNotices = lazy(() => import('./ai-qa/RunNotices.tsx').then((m) => ({ default: m.RunNotices })));

/** Notices of AI runs ending, on a slide's page (that slide's) and in the library (every slide's). */
function AiRunNotices({ path }: { path: string }) {
  const id = viewedSlideId(path);
  const library = path === '/' || path === '/index.html';
  if (id === null && !library) return null;
  return (
    <Suspense fallback={null}>
      <RunNotices slideId={id} />
    </Suspense>
  );
}

function Page({ path }: { path: string }) {
  const id = viewedSlideId(path);
  if (id !== null) {
    return <Viewer key={id} slideId={id} />;
  }
  if (path === '/' || path === '/index.html') return <LibraryPage />;
  const accession = caseAccessionOf(path);
  if (accession !== null)
    return (
      <Suspense fallback={<Spinner label="Loading the case…" />}>
        <CasePage key={accession} accession={accession} />
      </Suspense>
    );
  if (path === '/worklist')
    return (
      <Suspense fallback={<Spinner label="Loading the worklist…" />}>
        <WorklistPage />
      </Suspense>
    );
  if (path === '/dashboard')
    return (
      <Suspense fallback={<Spinner label="Loading the dashboard…" />}>
        <DashboardPage />
      </Suspense>
    );
  if (path === '/ai-qa')
    return (
      <Suspense fallback={<Spinner label="Loading AI quality figures…" />}>
        <AiQaPage />
      </Suspense>
    );
  if (path === '/admin')
    return (
      <Suspense fallback={<Spinner label="Loading administration…" />}>
        <AdminPage />
      </Suspense>
    );
  if (path === '/inbox')
    return (
      <Suspense fallback={<Spinner label="Loading your inbox…" />}>
        <InboxPage />
      </Suspense>
    );
  return <NotFound what="Page not found" />;
}

/** Nothing but the login page shows until the server says who is signed in. */
function App() {
  const path = usePathname();
  const session = useSession();
  const onLogin = path === LOGIN_PATH;

  useEffect(() => {
    // Signed out on a page: go to the login page, remembering the page.
    if (session.status === 'signed-out' && !onLogin)
      navigate(loginPath(window.location.pathname + window.location.search), { replace: true });
    // Signed in on the login page (a bookmark, the back button): go where it points.
    if (session.status === 'signed-in' && onLogin)
      navigate(safeNext(window.location.search), { replace: true });
  }, [session.status, onLogin]);

  // The login page also tells a server that does not answer, so it shows while loading or down.
  if (onLogin) return session.status === 'signed-in' ? null : <LoginPage />;
  if (session.status === 'loading') return <Spinner label="Loading…" />;
  if (session.status === 'down') return <ServerDown onRetry={refreshSession} />;
  if (session.status === 'signed-out') return null;
  return (
    <MeContext.Provider value={session.me}>
      <Page path={path} />
      <AiRunNotices path={path} />
    </MeContext.Provider>
  );
}

refreshSession();
// Opened on a slide (a link, a reload): its manifest and the viewer's code load while the session
// is checked, not one after the other. A signed-out visitor's manifest request just fails.
const opened = viewedSlideId(window.location.pathname);
if (opened !== null) {
  // Its tiles are fetched and decoded in a worker: started now, it runs when the viewer asks.
  startTileWorker();
  prefetchSlide(opened);
  // In a review session the annotations come with the session's join instead.
  if (!new URLSearchParams(window.location.search).has('session') && !prefetchAnnotationsInWorker(opened))
    prefetchAnnotations(opened);
  void loadViewer();
}
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
