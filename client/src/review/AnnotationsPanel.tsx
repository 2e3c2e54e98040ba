import { useRef, useState, type ChangeEvent } from 'react';
import type { AnnotationDto } from '../../../protocol/review.ts';
import { exportAnnotationsGeoJson, importAnnotationsGeoJson } from '../api.ts';
import { ANNOTATION_CLASSES, KIND_LABELS, UNCLASSIFIED, annotationColour } from './constants.ts';
import type { Room } from './useReviewRoom.ts';

interface Props {
  slideId: string;
  slideName: string;
  annotations: AnnotationDto[];
  selectedId: string | null;
  onSelect: (id: string | null) => void;
  /** Present in a session: the selected annotation can be edited and discussed. */
  room: Room | null;
  /** After an import: load the list again. */
  onImported: () => void;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The slide's annotations; GeoJSON export/import outside a session, editing and comments inside. */
export function AnnotationsPanel(p: Props) {
  const file = useRef<HTMLInputElement>(null);
  const [io, setIo] = useState<{ ok: boolean; text: string } | null>(null);
  const selected = p.annotations.find((a) => a.id === p.selectedId) ?? null;

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
    let body: unknown;
    try {
      body = JSON.parse(await f.text());
    } catch {
      setIo({ ok: false, text: `${f.name} is not JSON` });
      return;
    }
    try {
      const r = await importAnnotationsGeoJson(p.slideId, body);
      setIo({ ok: true, text: `Imported ${r.imported} annotation${r.imported === 1 ? '' : 's'}` });
      p.onImported();
    } catch (err) {
      setIo({ ok: false, text: errorText(err) });
    }
  };

  return (
    <div className="panel-body annotations-panel" data-testid="annotations-panel">
      {!p.room && (
        <div className="row-buttons">
          <button type="button" className="btn small" onClick={() => void doExport()}>
            Export GeoJSON
          </button>
          <button type="button" className="btn small" onClick={() => file.current?.click()}>
            Import GeoJSON…
          </button>
          <input
            ref={file}
            type="file"
            accept=".geojson,.json,application/geo+json,application/json"
            className="hidden"
            data-testid="geojson-input"
            onChange={(e) => void doImport(e)}
          />
        </div>
      )}
      {io && (
        <p
          className={io.ok ? 'small ok-text' : 'small error-text'}
          role="status"
          data-testid="geojson-result"
        >
          {io.text}
        </p>
      )}
      {!p.room && p.annotations.length > 0 && (
        <p className="muted small">Annotations are edited in a review session (Review).</p>
      )}
      {p.annotations.length === 0 ? (
        <p className="muted small">No annotations on this slide.</p>
      ) : (
        <ul className="ann-list">
          {p.annotations.map((a) => (
            <li key={a.id}>
              <button
                type="button"
                className={`ann-item${a.id === p.selectedId ? ' on' : ''}`}
                onClick={() => p.onSelect(a.id === p.selectedId ? null : a.id)}
                data-annotation-item={a.id}
              >
                <span className="swatch" data-color={annotationColour(a)}>
                  <svg width="10" height="10" aria-hidden="true">
                    <rect width="10" height="10" rx="2" fill={annotationColour(a)} />
                  </svg>
                </span>
                <span className="ann-item-main">
                  {a.label || KIND_LABELS[a.kind]}
                  <span className="muted small">
                    {' '}
                    {(a.classification ?? UNCLASSIFIED).name} · {a.authorName}
                    {a.comments.length > 0
                      ? ` · ${a.comments.length} comment${a.comments.length === 1 ? '' : 's'}`
                      : ''}
                  </span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {p.room && selected && <Editor key={selected.id} a={selected} room={p.room} />}
    </div>
  );
}

function Editor({ a, room }: { a: AnnotationDto; room: Room }) {
  const [label, setLabel] = useState(a.label);
  const [comment, setComment] = useState('');
  const saveLabel = () => {
    if (label !== a.label) room.update(a.id, { label });
  };
  return (
    <div className="ann-editor" data-testid="annotation-editor">
      <h3>
        {KIND_LABELS[a.kind]} <span className="muted small">by {a.authorName}</span>
      </h3>
      <label className="field">
        <span>Class</span>
        <select
          className="tselect"
          value={(a.classification ?? UNCLASSIFIED).name}
          onChange={(e) => {
            const c = ANNOTATION_CLASSES.find((k) => k.name === e.target.value);
            if (c) room.update(a.id, { classification: { ...c } });
          }}
        >
          {ANNOTATION_CLASSES.map((c) => (
            <option key={c.name}>{c.name}</option>
          ))}
          {!ANNOTATION_CLASSES.some((c) => c.name === (a.classification ?? UNCLASSIFIED).name) && (
            <option>{(a.classification ?? UNCLASSIFIED).name}</option>
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
      <button type="button" className="btn small danger" onClick={() => room.remove(a.id)}>
        Delete (Del)
      </button>
      <h4>Comments</h4>
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
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const text = comment.trim();
          if (!text) return;
          void room.comment(a.id, text).then((ok) => ok && setComment(''));
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
