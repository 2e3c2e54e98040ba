import { lazy, StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { LibraryPage } from './library/LibraryPage.tsx';
import { NotFound, Spinner } from './ui/states.tsx';
import { usePathname, viewedSlideId } from './ui/router.tsx';
import './ui/base.css';

// OpenSeadragon is the bulk of the bundle: the library page loads without it.
const ViewerPage = lazy(() => import('./viewer/ViewerPage.tsx'));

function App() {
  const path = usePathname();
  const id = viewedSlideId(path);
  if (id !== null) {
    return (
      <Suspense fallback={<Spinner label="Loading the viewer…" />}>
        <ViewerPage key={id} slideId={id} />
      </Suspense>
    );
  }
  if (path === '/' || path === '/index.html') return <LibraryPage />;
  return <NotFound what="Page not found" />;
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
