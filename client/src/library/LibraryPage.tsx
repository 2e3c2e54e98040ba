import './library.css';
import { useCallback, useEffect, useMemo, useRef, useState, type ChangeEvent } from 'react';
import type { UploadPayload } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';
import { payloadFromFolderInput, payloadsFromDrop } from './dropfiles.ts';
import { filterSlides, sortSlides, type SortDir, type SortKey } from './filter.ts';
import { SlideTable } from './SlideTable.tsx';
import { UploadList } from './UploadList.tsx';
import { useSlides } from './useSlides.ts';
import { uploads, useUploads } from './uploads.ts';

const DEFAULT_DIR: Record<SortKey, SortDir> = { name: 'asc', date: 'desc', size: 'desc' };

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

export function LibraryPage() {
  const { permissions } = useMe();
  const canUpload = permissions.ingest;
  const [state, reload] = useSlides();
  const [query, setQuery] = useState('');
  const [sortKey, setSortKey] = useState<SortKey>('date');
  const [sortDir, setSortDir] = useState<SortDir>('desc');
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());

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

  const shown = useMemo(
    () => sortSlides(filterSlides(state.slides, query), sortKey, sortDir),
    [state.slides, query, sortKey, sortDir],
  );

  const onSort = (k: SortKey) => {
    if (k === sortKey) setSortDir((d) => (d === 'asc' ? 'desc' : 'asc'));
    else {
      setSortKey(k);
      setSortDir(DEFAULT_DIR[k]);
    }
  };

  let body;
  if (state.status === 'loading' && state.slides.length === 0) body = <Spinner label="Loading slides…" />;
  else if (state.status === 'down') body = <ServerDown onRetry={reload} />;
  else if (state.status === 'error') body = <Failure message={state.message} onRetry={reload} />;
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
  else if (shown.length === 0)
    body = (
      <div className="empty">
        <h2>No slides match “{query}”</h2>
        <button type="button" className="btn" onClick={() => setQuery('')}>
          Clear the search
        </button>
      </div>
    );
  else
    body = (
      <SlideTable slides={shown} sortKey={sortKey} sortDir={sortDir} onSort={onSort} highlight={fresh} />
    );

  return (
    <div className="library">
      <PageHeader title="Slide library">
        {canUpload && <UploadButtons onPayloads={startUploads} />}
      </PageHeader>
      <main className="lib-main">
        <div className="lib-tools">
          <input
            type="search"
            className="search"
            placeholder="Search by name or scanner format"
            aria-label="Search slides"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
          <label className="sort">
            Sort by{' '}
            <select value={sortKey} onChange={(e) => onSort(e.target.value as SortKey)} aria-label="Sort by">
              <option value="name">Name</option>
              <option value="date">Date added</option>
              <option value="size">Size</option>
            </select>
          </label>
          <button
            type="button"
            className="btn small"
            onClick={() => setSortDir((d) => (d === 'asc' ? 'desc' : 'asc'))}
            aria-label={
              sortDir === 'asc' ? 'Ascending; switch to descending' : 'Descending; switch to ascending'
            }
          >
            {sortDir === 'asc' ? '↑ Ascending' : '↓ Descending'}
          </button>
          <span className="muted small count">
            {state.slides.length > 0 &&
              (shown.length === state.slides.length
                ? `${state.slides.length} slide${state.slides.length === 1 ? '' : 's'}`
                : `${shown.length} of ${state.slides.length}`)}
          </span>
        </div>
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
