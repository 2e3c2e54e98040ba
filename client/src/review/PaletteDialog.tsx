import { useState } from 'react';
import type { AnnotationClass } from '../../../protocol/review.ts';
import { saveAnnotationClasses } from '../api.ts';
import { legibilityProblem } from './legibility.ts';

const NAME_MAX = 64;

/** What is wrong with a palette, or null. */
export function paletteProblem(rows: readonly AnnotationClass[]): string | null {
  if (rows.length === 0) return 'keep at least one class';
  const seen = new Set<string>();
  for (const r of rows) {
    const name = r.name.trim();
    if (!name) return 'every class needs a name';
    if (name.length > NAME_MAX) return `a class name is at most ${NAME_MAX} characters`;
    if (name.toLowerCase() === 'unclassified')
      return '"Unclassified" is kept for annotations without a class';
    if (seen.has(name.toLowerCase())) return `"${name}" is there twice`;
    seen.add(name.toLowerCase());
    if (!/^#[0-9a-fA-F]{6}$/.test(r.color)) return `the colour of "${name}" is not #rrggbb`;
  }
  return null;
}

/** An administrator's editor of the classes offered to everyone (PUT /api/annotation-classes). */
export function PaletteDialog({
  classes,
  onSaved,
  onClose,
}: {
  classes: readonly AnnotationClass[];
  onSaved: (c: AnnotationClass[]) => void;
  onClose: () => void;
}) {
  const [rows, setRows] = useState<AnnotationClass[]>(() => classes.map((c) => ({ ...c })));
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const problem = paletteProblem(rows);
  const set = (i: number, patch: Partial<AnnotationClass>) =>
    setRows((r) => r.map((c, j) => (j === i ? { ...c, ...patch } : c)));

  const save = async () => {
    if (problem) return;
    setSaving(true);
    setError(null);
    try {
      const saved = await saveAnnotationClasses(rows.map((r) => ({ name: r.name.trim(), color: r.color })));
      onSaved(saved);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  };

  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div
        className="modal palette-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="palette-title"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onClose();
          // The viewer's keys stay out of the form.
          e.stopPropagation();
        }}
      >
        <div className="modal-head">
          <h2 id="palette-title">Annotation classes</h2>
          <button type="button" className="icon-btn" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </div>
        <p className="muted small">
          Offered to everyone on this server; colours hard to see on H&amp;E are flagged.
        </p>
        <ul className="palette-rows">
          {rows.map((c, i) => (
            <li key={i}>
              <input
                type="color"
                value={c.color.toLowerCase()}
                onChange={(e) => set(i, { color: e.target.value })}
                aria-label={`Colour of ${c.name || 'the new class'}`}
              />
              <input
                className="tinput"
                value={c.name}
                maxLength={NAME_MAX}
                onChange={(e) => set(i, { name: e.target.value })}
                aria-label="Class name"
              />
              {legibilityProblem(c.color) && (
                <span className="warn small" title="Hard to see over H&E-stained tissue">
                  {legibilityProblem(c.color)}
                </span>
              )}
              <button
                type="button"
                className="icon-btn"
                aria-label={`Remove ${c.name}`}
                onClick={() => setRows((r) => r.filter((_, j) => j !== i))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
        <div className="row-buttons">
          <button
            type="button"
            className="btn small"
            onClick={() => setRows((r) => [...r, { name: '', color: '#00a0ff' }])}
          >
            Add a class
          </button>
          <span className="spacer" />
          <button type="button" className="btn small" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="btn small primary"
            disabled={!!problem || saving}
            onClick={() => void save()}
          >
            Save
          </button>
        </div>
        {(problem || error) && <p className="small error-text">{error ?? problem}</p>}
      </div>
    </div>
  );
}
