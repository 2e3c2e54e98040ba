import { memo, useRef, useState, type ChangeEvent } from 'react';
import type { AnnotationClass, AnnotationDto } from '../../../protocol/review.ts';
import { ApiError, exportAnnotationsGeoJson, importAnnotationsGeoJson } from '../api.ts';
import type { Mpp } from '../viewer/geometry.ts';
import { measureShape, measureText } from '../viewer/measure-shapes.ts';
import {
  authorsOf,
  classCounts,
  isFiltered,
  NO_FILTER,
  toggleClass,
  type AnnotationFilter,
} from './annotation-filter.ts';
import { KIND_LABELS, UNCLASSIFIED, annotationColour } from './constants.ts';
import {
  featureReason,
  importOutcome,
  LIST_PAGE,
  listedRows,
  reportOf,
  type ImportOutcome,
} from './import-report.ts';
import type { AnnotationOps } from './ops.ts';
import { PaletteDialog } from './PaletteDialog.tsx';
import type { Palette } from './usePalette.ts';

interface Props {
  slideId: string;
  slideName: string;
  /** Every annotation of the slide (the filters' counts), and those the filters let through. */
  annotations: readonly AnnotationDto[];
  visible: readonly AnnotationDto[];
  filter: AnnotationFilter;
  onFilter: (f: AnnotationFilter) => void;
  palette: Palette;
  mpp: Mpp | null;
  selectedId: string | null;
  onSelect: (id: string | null) => void;
  /** Fit the view to an annotation. */
  onGoTo: (a: AnnotationDto) => void;
  ops: AnnotationOps;
  /** An administrator may edit the palette. */
  isAdmin: boolean;
  /** Seen through a share outside a session: nothing can be changed. */
  readOnly: boolean;
  /** After an import: load the list again. */
  onImported: () => void;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The measurement of an annotation as the list shows it. */
export function measureLine(a: Pick<AnnotationDto, 'kind' | 'geometry'>, mpp: Mpp | null) {
  return measureText(measureShape(a.kind, a.geometry, mpp));
}

/**
 * The slide's annotations with their measurements, filters by class and author, GeoJSON export
 * and import, and the selected one's editor, in and out of a live session alike.
 */
export const AnnotationsPanel = memo(function AnnotationsPanel(p: Props) {
  const file = useRef<HTMLInputElement>(null);
  const [io, setIo] = useState<ImportOutcome | null>(null);
  const [editingPalette, setEditingPalette] = useState(false);
  const selected = p.annotations.find((a) => a.id === p.selectedId) ?? null;
  const classes = classCounts(p.annotations, p.palette.classes);
  const authors = authorsOf(p.annotations);
  const hiddenCount = p.annotations.length - p.visible.length;
  const [listLimit, setListLimit] = useState(LIST_PAGE);
  const listed = listedRows(p.visible, listLimit, p.selectedId);

  const doExport = async () => {
    try {
      const text = await exportAnnotationsGeoJson(p.slideId);
      const url = URL.createObjectURL(new Blob([text], { type: 'application/geo+json' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${p.slideName.replace(/[^\w.-]+/g, '_') || p.slideId}.geojson`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) {
      setIo({ ok: false, text: errorText(e) });
    }
  };

  const doImport = async (e: ChangeEvent<HTMLInputElement>) => {
    const f = e.target.files?.[0];
    e.target.value = '';
    if (!f) return;
    setIo({ ok: true, text: `Importing ${f.name}…` });
    try {
      const r = await importAnnotationsGeoJson(p.slideId, await f.text());
      setIo(importOutcome(f.name, r.imported, r.errors));
      p.onImported();
    } catch (err) {
      // Nothing stored: the server's report still names each feature and why.
      const report = err instanceof ApiError ? reportOf(err.body) : null;
      setIo(
        report
          ? { ...importOutcome(f.name, 0, report.errors), ok: false }
          : { ok: false, text: `${f.name}: ${errorText(err)}` },
      );
    }
  };

  return (
    <div className="panel-body annotations-panel" data-testid="annotations-panel">
      <div className="row-buttons">
        <button
          type="button"
          className="btn small"
          onClick={() => void doExport()}
          title="Download the slide's annotations as QuPath GeoJSON"
          data-testid="export-geojson"
        >
          Export GeoJSON
        </button>
        <button type="button" className="btn small" onClick={() => file.current?.click()}>
          Import GeoJSON…
        </button>
        {p.isAdmin && (
          <button
            type="button"
            className="btn small"
            onClick={() => setEditingPalette(true)}
            title="The classes offered to everyone, and their colours"
            data-testid="edit-palette"
          >
            Classes…
          </button>
        )}
        <input
          ref={file}
          type="file"
          accept=".geojson,.json,application/geo+json,application/json"
          className="hidden"
          data-testid="geojson-input"
          onChange={(e) => void doImport(e)}
        />
      </div>
      {io && (
        <div className="import-result" data-testid="geojson-result">
          <p className={io.ok ? 'small ok-text' : 'small error-text'} role="status">
            {io.text}{' '}
            <button type="button" className="link-btn" onClick={() => setIo(null)} aria-label="Dismiss">
              ✕
            </button>
          </p>
          {io.errors && io.errors.length > 0 && (
            <ol
              className="import-errors small"
              aria-label="Features not imported"
              data-testid="import-errors"
            >
              {io.errors.map((x, i) => (
                <li key={i} data-feature-index={x.index}>
                  <span className="muted">feature {x.index}</span> {featureReason(x)}
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
      {p.mpp === null && p.annotations.length > 0 && (
        <p className="warn small">This slide has no µm/px calibration: measurements are in pixels.</p>
      )}
      {p.annotations.length > 0 && (
        <div className="ann-filters" data-testid="annotation-filters">
          <div className="class-chips" role="group" aria-label="Show or hide by class">
            {classes.map((c) => {
              const shown = !p.filter.hiddenClasses.has(c.name);
              return (
                <button
                  key={c.name}
                  type="button"
                  className={`class-chip${shown ? ' on' : ''}`}
                  aria-pressed={shown}
                  onClick={() => p.onFilter(toggleClass(p.filter, c.name))}
                  title={`${shown ? 'Hide' : 'Show'} ${c.name}`}
                  data-class-filter={c.name}
                >
                  <svg width="10" height="10" aria-hidden="true">
                    <rect width="10" height="10" rx="2" fill={c.color} />
                  </svg>
                  {c.name} <span className="muted">{c.count}</span>
                </button>
              );
            })}
          </div>
          <label className="author-filter">
            <span className="muted small">By</span>
            <select
              className="tselect"
              value={p.filter.author ?? ''}
              onChange={(e) => p.onFilter({ ...p.filter, author: e.target.value || null })}
              data-testid="author-filter"
              aria-label="Show the annotations of"
            >
              <option value="">everyone</option>
              {authors.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.name} ({u.count})
                </option>
              ))}
            </select>
          </label>
          {isFiltered(p.filter) && (
            <p className="muted small filter-note" data-testid="filter-note">
              {hiddenCount} of {p.annotations.length} hidden by the filters.{' '}
              <button type="button" className="link-btn" onClick={() => p.onFilter(NO_FILTER)}>
                Show all
              </button>
            </p>
          )}
        </div>
      )}
      {p.annotations.length === 0 ? (
        <p className="muted small">
          No annotations on this slide. Draw with the tools above (R rectangle, L line, G polygon…): each
          shape is saved with its measurement.
        </p>
      ) : (
        <ul className="ann-list">
          {listed.map((a) => {
            const m = measureLine(a, p.mpp);
            return (
              <li key={a.id}>
                <button
                  type="button"
                  className={`ann-item${a.id === p.selectedId ? ' on' : ''}`}
                  onClick={() => {
                    p.onSelect(a.id);
                    p.onGoTo(a);
                  }}
                  title="Go to this annotation"
                  data-annotation-item={a.id}
                >
                  <span className="swatch" data-color={annotationColour(a, p.palette.classes)}>
                    <svg width="10" height="10" aria-hidden="true">
                      <rect width="10" height="10" rx="2" fill={annotationColour(a, p.palette.classes)} />
                    </svg>
                  </span>
                  <span className="ann-item-main">
                    <span className="ann-item-title">
                      {a.label || KIND_LABELS[a.kind]}
                      {a.locked && <span className="muted small"> · locked</span>}
                    </span>
                    {m.main && (
                      <span className="ann-measure" data-testid="annotation-measure">
                        {m.main}
                        {m.sub && <span className="muted"> · {m.sub}</span>}
                      </span>
                    )}
                    <span className="muted small">
                      {(a.classification ?? UNCLASSIFIED).name} · {a.authorName}
                      {a.comments.length > 0
                        ? ` · ${a.comments.length} comment${a.comments.length === 1 ? '' : 's'}`
                        : ''}
                    </span>
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {listed.length < p.visible.length && (
        <p className="muted small list-more">
          {listed.length} of {p.visible.length} listed.{' '}
          <button
            type="button"
            className="link-btn"
            onClick={() => setListLimit(listed.length + LIST_PAGE)}
            data-testid="list-more"
          >
            Show {Math.min(LIST_PAGE, p.visible.length - listed.length)} more
          </button>
        </p>
      )}
      {selected &&
        (p.readOnly ? (
          <ReadOnly a={selected} mpp={p.mpp} />
        ) : (
          <Editor key={selected.id} a={selected} ops={p.ops} classes={p.palette.classes} mpp={p.mpp} />
        ))}
      {editingPalette && (
        <PaletteDialog
          classes={p.palette.classes}
          onSaved={(c) => {
            p.palette.set(c);
            setEditingPalette(false);
          }}
          onClose={() => setEditingPalette(false)}
        />
      )}
    </div>
  );
});

function Thread({ a }: { a: AnnotationDto }) {
  return (
    <ul className="thread">
      {a.comments.map((c) => (
        <li key={c.id}>
          <strong>{c.authorName}</strong>{' '}
          <span className="muted small">{new Date(c.at).toLocaleTimeString()}</span>
          <div>{c.text}</div>
        </li>
      ))}
      {a.comments.length === 0 && <li className="muted small">No comments yet.</li>}
    </ul>
  );
}

/** A shared slide's annotation: what it is and says, nothing to change (view only). */
function ReadOnly({ a, mpp }: { a: AnnotationDto; mpp: Mpp | null }) {
  const m = measureLine(a, mpp);
  return (
    <div className="ann-editor" data-testid="annotation-view">
      <h3>
        {a.label || KIND_LABELS[a.kind]} <span className="muted small">by {a.authorName}</span>
      </h3>
      {m.main && (
        <p className="ann-editor-measure">
          {m.main}
          {m.sub && <span className="muted"> · {m.sub}</span>}
        </p>
      )}
      <p className="small">{(a.classification ?? UNCLASSIFIED).name}</p>
      <p className="muted small">This slide is shared with you: view only.</p>
      <h4>Comments</h4>
      <Thread a={a} />
    </div>
  );
}

function Editor({
  a,
  ops,
  classes,
  mpp,
}: {
  a: AnnotationDto;
  ops: AnnotationOps;
  classes: readonly AnnotationClass[];
  mpp: Mpp | null;
}) {
  const [label, setLabel] = useState(a.label);
  const [comment, setComment] = useState('');
  const saveLabel = () => {
    if (label !== a.label) ops.update(a.id, { label });
  };
  const current = (a.classification ?? UNCLASSIFIED).name;
  const m = measureLine(a, mpp);
  return (
    <div className="ann-editor" data-testid="annotation-editor">
      <h3>
        {KIND_LABELS[a.kind]} <span className="muted small">by {a.authorName}</span>
      </h3>
      {m.main && (
        <p className="ann-editor-measure">
          {m.main}
          {m.sub && <span className="muted"> · {m.sub}</span>}
        </p>
      )}
      <label className="field">
        <span>Class</span>
        <select
          className="tselect"
          value={current}
          onChange={(e) => {
            const c = classes.find((k) => k.name === e.target.value);
            if (c) ops.update(a.id, { classification: { ...c } });
            else if (e.target.value === UNCLASSIFIED.name) ops.update(a.id, { classification: null });
          }}
        >
          {classes.map((c) => (
            <option key={c.name}>{c.name}</option>
          ))}
          <option value={UNCLASSIFIED.name}>{UNCLASSIFIED.name}</option>
          {current !== UNCLASSIFIED.name && !classes.some((c) => c.name === current) && (
            <option>{current}</option>
          )}
        </select>
      </label>
      <label className="field">
        <span>Label</span>
        <input
          className="tinput"
          value={label}
          maxLength={500}
          onChange={(e) => setLabel(e.target.value)}
          onBlur={saveLabel}
          onKeyDown={(e) => e.key === 'Enter' && saveLabel()}
        />
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={a.locked ?? false}
          onChange={(e) => ops.update(a.id, { locked: e.target.checked })}
        />{' '}
        Locked (cannot be moved or deleted)
      </label>
      <button
        type="button"
        className="btn small danger"
        onClick={() => ops.remove(a.id)}
        disabled={a.locked ?? false}
      >
        Delete (Del)
      </button>
      <h4>Comments</h4>
      <Thread a={a} />
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const text = comment.trim();
          if (!text) return;
          void ops.comment(a.id, text).then((ok) => ok && setComment(''));
        }}
      >
        <input
          className="tinput"
          placeholder="Comment on this annotation"
          value={comment}
          maxLength={4000}
          onChange={(e) => setComment(e.target.value)}
        />
        <button type="submit" className="btn small">
          Add
        </button>
      </form>
    </div>
  );
}
