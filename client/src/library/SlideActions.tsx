import { useState, type FormEvent } from 'react';
import type { SlideDto } from '../../../protocol/index.ts';
import { ApiError } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { attachSlide, deleteSlide, detachSlide, renameSlide } from './library-api.ts';

type Mode = 'menu' | 'rename' | 'attach' | 'detach' | 'delete';

const messageOf = (e: unknown): string =>
  e instanceof ApiError || e instanceof Error ? e.message : String(e);

/**
 * Managing one slide from the library: rename (people of a site that owns it who may upload),
 * add to or remove from a case and delete (its site's lab managers, administrators). The server
 * decides; its refusal (a slide in an open case, say) is shown as it says it.
 */
export function SlideActions({ slide, onChanged }: { slide: SlideDto; onChanged: () => void }) {
  const { user, permissions } = useMe();
  const owner = slide.access === 'site';
  const canRename = owner && permissions.ingest;
  const canManage = owner && (user.role === 'lab_manager' || user.role === 'admin');
  const [mode, setMode] = useState<Mode | null>(null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!canRename && !canManage) return null;

  const open = (m: Mode, initial = '') => {
    setMode(m);
    setText(initial);
    setError(null);
  };
  const run = (fn: () => Promise<unknown>) => (e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    fn().then(
      () => {
        setBusy(false);
        setMode(null);
        onChanged();
      },
      (err: unknown) => {
        setBusy(false);
        setError(messageOf(err));
      },
    );
  };

  return (
    <div className="slide-actions">
      {mode === null && (
        <button
          type="button"
          className="btn small"
          aria-label={`Manage ${slide.name}`}
          onClick={() => open('menu')}
        >
          Manage…
        </button>
      )}
      {mode === 'menu' && (
        <div className="action-row" role="group" aria-label={`Manage ${slide.name}`}>
          {canRename && (
            <button type="button" className="btn small" onClick={() => open('rename', slide.name)}>
              Rename
            </button>
          )}
          {canManage && (
            <>
              <button type="button" className="btn small" onClick={() => open('attach')}>
                Add to case
              </button>
              <button type="button" className="btn small" onClick={() => open('detach')}>
                Remove from case
              </button>
              <button type="button" className="btn small danger" onClick={() => open('delete')}>
                Delete
              </button>
            </>
          )}
          <button type="button" className="btn small" onClick={() => setMode(null)}>
            Close
          </button>
        </div>
      )}
      {(mode === 'rename' || mode === 'attach' || mode === 'detach') && (
        <form
          className="action-row"
          onSubmit={run(() =>
            mode === 'rename'
              ? renameSlide(slide.id, text)
              : mode === 'attach'
                ? attachSlide(slide.id, text.trim())
                : detachSlide(slide.id, text.trim()),
          )}
        >
          <input
            className="action-input"
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-label={mode === 'rename' ? 'New name' : 'Case accession'}
            placeholder={mode === 'rename' ? 'Name' : 'Accession, e.g. N26-0012'}
            maxLength={200}
            required
            autoFocus
          />
          <button type="submit" className="btn small primary" disabled={busy}>
            {mode === 'rename' ? 'Save name' : mode === 'attach' ? 'Add' : 'Remove'}
          </button>
          <button type="button" className="btn small" onClick={() => setMode(null)}>
            Cancel
          </button>
        </form>
      )}
      {mode === 'delete' && (
        <div className="action-row" role="group">
          <span className="small">Delete “{slide.name}”?</span>
          <button
            type="button"
            className="btn small danger"
            disabled={busy}
            onClick={run(() => deleteSlide(slide.id))}
          >
            Delete slide
          </button>
          <button type="button" className="btn small" onClick={() => setMode(null)}>
            Keep
          </button>
        </div>
      )}
      {error && (
        <div className="error-text small" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}
