import './library.css';
import {
  useCallback,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ChangeEvent,
} from 'react';
import type { UploadPayload } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';
import { payloadFromFolderInput, payloadsFromDrop } from './dropfiles.ts';
import { FORMAT_LABELS } from './filter.ts';
import { SlideTable, type SortDir, type SortKey } from './SlideTable.tsx';
import {
  filtersFromSearch,
  type LibraryFilters,
  type Order,
  orderOf,
  searchOf,
  withOrder,
} from './url-filters.ts';
import { navigate, usePathname } from '../ui/router.tsx';
import { UploadList } from './UploadList.tsx';
import { PacsImport } from './PacsImport.tsx';
import { useSlides } from './useSlides.ts';
import { uploads, useUploads } from './uploads.ts';

function hasFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer?.types ?? []).includes('Files');
}

/**
 * Drag-and-drop anywhere on the page: a counter, since dragenter/dragleave fire for every child.
 * Off (`enabled` false) for users who may not upload: the browser then handles drops as usual.
 */
function useWindowDrop(onDrop: (dt: DataTransfer) => void, enabled: boolean): boolean {
  const [over, setOver] = useState(false);
  const depth = useRef(0);
  const handler = useRef(onDrop);
  handler.current = onDrop;
  useEffect(() => {
    if (!enabled) return;
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth.current++;
      setOver(true);
    };
    const overEv = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    };
    const leave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth.current = Math.max(0, depth.current - 1);
      if (depth.current === 0) setOver(false);
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth.current = 0;
      setOver(false);
      if (e.dataTransfer) handler.current(e.dataTransfer);
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragover', overEv);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragover', overEv);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, [enabled]);
  return over;
}

function UploadButtons({ onPayloads }: { onPayloads: (p: UploadPayload[]) => void }) {
  const files = useRef<HTMLInputElement>(null);
  const folder = useRef<HTMLInputElement>(null);
  const onFiles = (e: ChangeEvent<HTMLInputElement>) => {
    const list = Array.from(e.target.files ?? []);
    e.target.value = '';
    if (list.length) onPayloads(list.map((file) => ({ kind: 'file', file })));
  };
  const onFolder = (e: ChangeEvent<HTMLInputElement>) => {
    const p = e.target.files ? payloadFromFolderInput(e.target.files) : null;
    e.target.value = '';
    if (p) onPayloads([p]);
  };
  return (
    <div className="upload-buttons">
      <button type="button" className="btn primary" onClick={() => files.current?.click()}>
        Upload slides…
      </button>
      <button
        type="button"
        className="btn"
        onClick={() => folder.current?.click()}
        title="A DICOM series or a MIRAX slide with its data folder"
      >
        Upload a folder…
      </button>
      <input ref={files} type="file" multiple hidden onChange={onFiles} data-testid="file-input" />
      <input
        ref={(el) => {
          folder.current = el;
          // React has no prop for it; set as a plain attribute.
          el?.setAttribute('webkitdirectory', '');
        }}
        type="file"
        hidden
        onChange={onFolder}
        data-testid="folder-input"
      />
    </div>
  );
}

const STAINS: [string, string][] = [
  ['he', 'H&E'],
  ['pas', 'PAS'],
  ['trichrome', 'Trichrome'],
  ['giemsa', 'Giemsa'],
  ['zn', 'Ziehl–Neelsen'],
  ['gms', 'Grocott'],
  ['ki67', 'Ki-67'],
  ['her2', 'HER2'],
  ['er', 'ER'],
  ['pr', 'PR'],
  ['p53', 'p53'],
  ['pdl1', 'PD-L1'],
  ['ck', 'Cytokeratin'],
];

/** The filters in the address bar: read on every navigation (back and forward included). */
function useAddressFilters(): [LibraryFilters, (f: LibraryFilters, typing?: boolean) => void] {
  usePathname();
  const search = useSyncExternalStore(
    (fn) => {
      window.addEventListener('popstate', fn);
      window.addEventListener('tessera:navigate', fn);
      return () => {
        window.removeEventListener('popstate', fn);
        window.removeEventListener('tessera:navigate', fn);
      };
    },
    () => window.location.search,
  );
  const filters = useMemo(() => filtersFromSearch(search), [search]);
  const set = useCallback((f: LibraryFilters, typing = false) => {
    const to = `${window.location.pathname}${searchOf(f)}`;
    // Typing replaces the entry (no history step per letter); a chosen filter is a step back.
    if (typing) {
      window.history.replaceState(null, '', to);
      window.dispatchEvent(new Event('tessera:navigate'));
    } else navigate(to);
  }, []);
  return [filters, set];
}

export function LibraryPage() {
  const { permissions, user } = useMe();
  const canUpload = permissions.ingest;
  const canImport = user.role === 'admin' || user.role === 'lab_manager';
  const [importing, setImporting] = useState(false);
  const [filters, setFilters] = useAddressFilters();
  const [state, { reload, loadMore }] = useSlides(filters);
  const [query, setQuery] = useState(filters.q ?? '');
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());
  const order = orderOf(filters);
  const sortKey: SortKey = filters.sort ?? 'date';
  const sortDir: SortDir = filters.dir ?? (sortKey === 'date' ? 'desc' : 'asc');

  // The search box follows the address (back, forward); typing updates the address after a pause.
  useEffect(() => setQuery(filters.q ?? ''), [filters.q]);
  useEffect(() => {
    if (query.trim() === (filters.q ?? '')) return;
    const t = setTimeout(() => setFilters({ ...filters, q: query.trim() || undefined }, true), 300);
    return () => clearTimeout(t);
  }, [query, filters, setFilters]);

  const onReady = useCallback(
    (id: string) => {
      setFresh((s) => new Set(s).add(id));
      reload();
    },
    [reload],
  );
  const uploadItems = useUploads(onReady);
  const startUploads = useCallback((p: UploadPayload[]) => uploads.start(p), []);
  const dragging = useWindowDrop(
    useCallback(
      (dt: DataTransfer) => {
        payloadsFromDrop(dt).then(
          (p) => p.length && startUploads(p),
          () => {},
        );
      },
      [startUploads],
    ),
    canUpload,
  );

  useEffect(() => {
    document.title = 'Slide library · Tessera';
  }, []);

  const onSort = (k: SortKey) => {
    if (k === sortKey) setFilters({ ...filters, sort: k, dir: sortDir === 'asc' ? 'desc' : 'asc' });
    else setFilters(withOrder(filters, k === 'date' ? 'newest' : 'name'));
  };
  const set = (k: keyof LibraryFilters, v: string) => setFilters({ ...filters, [k]: v || undefined });
  const filtered = Object.keys(filters).some((k) => k !== 'sort' && k !== 'dir');

  let body;
  if (state.status === 'loading' && state.slides.length === 0) body = <Spinner label="Loading slides…" />;
  else if (state.status === 'down') body = <ServerDown onRetry={reload} />;
  else if (state.status === 'error')
    body = <Failure message={state.message ?? 'The slides could not be listed.'} onRetry={reload} />;
  else if (state.slides.length === 0 && filtered)
    body = (
      <div className="empty">
        <h2>No slides match these filters</h2>
        <button
          type="button"
          className="btn"
          onClick={() => {
            setQuery('');
            setFilters(withOrder({}, order));
          }}
        >
          Clear the filters
        </button>
      </div>
    );
  else if (state.slides.length === 0)
    body = canUpload ? (
      <div className="empty">
        <div className="empty-art" aria-hidden="true" />
        <h2>No slides yet</h2>
        <p className="muted">
          Drop a slide file (SVS, NDPI, OME-TIFF, DICOM, CZI…) or a folder (a DICOM series, a MIRAX slide)
          anywhere on this page, or use the buttons above.
        </p>
      </div>
    ) : (
      <div className="empty">
        <div className="empty-art" aria-hidden="true" />
        <h2>No slides yet</h2>
        <p className="muted">
          Slides of your site and slides other sites share with you appear here. Nothing has been shared with
          you yet.
        </p>
      </div>
    );
  else
    body = (
      <>
        <SlideTable
          slides={state.slides}
          sortKey={sortKey}
          sortDir={sortDir}
          onSort={onSort}
          highlight={fresh}
          onChanged={reload}
        />
        <div className="lib-more">
          {state.nextCursor ? (
            <button type="button" className="btn" onClick={loadMore} disabled={state.loadingMore}>
              {state.loadingMore ? 'Loading…' : 'Load more'}
            </button>
          ) : (
            <span className="muted small">End of the list</span>
          )}
        </div>
      </>
    );

  return (
    <div className="library">
      <PageHeader title="Slide library">
        {canUpload && <UploadButtons onPayloads={startUploads} />}
        {canImport && (
          <button
            type="button"
            className="btn"
            aria-expanded={importing}
            onClick={() => setImporting((v) => !v)}
            title="Pull a study's slides from a DICOMweb archive (PACS, VNA)"
          >
            Import from PACS…
          </button>
        )}
      </PageHeader>
      <main className="lib-main">
        {importing && <PacsImport onClose={() => setImporting(false)} />}
        <form className="lib-tools" role="search" onSubmit={(e) => e.preventDefault()}>
          <input
            type="search"
            className="search"
            placeholder="Search by name"
            aria-label="Search slides"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
          <select
            aria-label="Stain"
            value={filters.stain ?? ''}
            onChange={(e) => set('stain', e.target.value)}
          >
            <option value="">Any stain</option>
            {STAINS.map(([id, label]) => (
              <option key={id} value={id}>
                {label}
              </option>
            ))}
          </select>
          <select
            aria-label="Scanner format"
            value={filters.format ?? ''}
            onChange={(e) => set('format', e.target.value)}
          >
            <option value="">Any format</option>
            {Object.entries(FORMAT_LABELS).map(([id, label]) => (
              <option key={id} value={id}>
                {label}
              </option>
            ))}
          </select>
          <input
            className="case-filter"
            aria-label="Case accession"
            placeholder="Case"
            defaultValue={filters.case ?? ''}
            key={`case-${filters.case ?? ''}`}
            onBlur={(e) =>
              e.target.value.trim() !== (filters.case ?? '') && set('case', e.target.value.trim())
            }
            onKeyDown={(e) => {
              if (e.key === 'Enter') set('case', e.currentTarget.value.trim());
            }}
          />
          <label className="date-filter small">
            Added from{' '}
            <input type="date" value={filters.from ?? ''} onChange={(e) => set('from', e.target.value)} />
          </label>
          <label className="date-filter small">
            to <input type="date" value={filters.to ?? ''} onChange={(e) => set('to', e.target.value)} />
          </label>
          <label className="sort">
            Sort{' '}
            <select
              value={order}
              onChange={(e) => setFilters(withOrder(filters, e.target.value as Order))}
              aria-label="Sort by"
            >
              <option value="newest">Newest first</option>
              <option value="oldest">Oldest first</option>
              <option value="name">Name A–Z</option>
              <option value="name-desc">Name Z–A</option>
            </select>
          </label>
          <span className="muted small count" data-testid="slide-count">
            {state.slides.length > 0 &&
              `${state.slides.length} shown${state.nextCursor ? ', more to load' : ''}`}
          </span>
        </form>
        <UploadList
          items={uploadItems}
          onCancel={(k) => uploads.cancel(k)}
          onDismiss={(k) => uploads.dismiss(k)}
        />
        {body}
      </main>
      {dragging && canUpload && (
        <div className="drop-overlay" aria-hidden="true">
          <div className="drop-box">Drop slides or folders to upload</div>
        </div>
      )}
    </div>
  );
}
