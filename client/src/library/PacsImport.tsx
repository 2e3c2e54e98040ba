import { type FormEvent, useEffect, useState } from 'react';
import type { DicomwebImportAccepted, DicomwebSourceDto } from '../../../protocol/index.ts';
import { ApiError, getJson, NetworkError, sendJson } from '../api.ts';
import { uploadError } from './upload-errors.ts';
import { uploads } from './uploads.ts';

/** digits and dots: what a DICOM UID may hold (the server checks the rest). */
const UID_PATTERN = '[0-9]+(\\.[0-9]+)*';

/**
 * "Import from PACS" for administrators and lab managers: a study (or one series of it) pulled from
 * an archive the administrator configured (TESSERA_DICOMWEB_SOURCES), its jobs followed in the
 * upload list. The archive is chosen by name: the server never fetches an address typed here.
 */
export function PacsImport({ onClose }: { onClose: () => void }) {
  const [sources, setSources] = useState<DicomwebSourceDto[] | null>(null);
  const [source, setSource] = useState('');
  const [study, setStudy] = useState('');
  const [series, setSeries] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ text: string; detail: string } | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    getJson<DicomwebSourceDto[]>('/api/imports/dicomweb/sources', ac.signal).then(
      (s) => {
        setSources(s);
        setSource((cur) => cur || s[0]?.name || '');
      },
      (e: unknown) => {
        if (ac.signal.aborted) return;
        setSources([]);
        setError(
          uploadError(e instanceof ApiError ? e.code : null, e instanceof Error ? e.message : String(e)),
        );
      },
    );
    return () => ac.abort();
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { source, study: study.trim(), ...(series.trim() ? { series: series.trim() } : {}) };
      const accepted = await sendJson<DicomwebImportAccepted>('/api/imports/dicomweb', {
        method: 'POST',
        body,
      });
      uploads.follow(accepted.jobs, source);
      onClose();
    } catch (err) {
      setError(
        err instanceof ApiError
          ? uploadError(err.code, err.message)
          : err instanceof NetworkError
            ? uploadError('NETWORK', err.message)
            : uploadError(null, String(err)),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="pacs-import" aria-label="Import from PACS" onSubmit={(e) => void submit(e)}>
      <h2 className="section-title">Import from PACS</h2>
      {sources === null ? (
        <p className="muted small">Loading archives…</p>
      ) : sources.length === 0 ? (
        <p className="muted small" data-testid="pacs-none">
          No archive is configured. An administrator lists them in TESSERA_DICOMWEB_SOURCES (name=URL,…).
        </p>
      ) : (
        <div className="pacs-fields">
          <label>
            Archive{' '}
            <select value={source} onChange={(e) => setSource(e.target.value)} aria-label="Archive">
              {sources.map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name} — {s.url}
                </option>
              ))}
            </select>
          </label>
          <label>
            Study Instance UID{' '}
            <input
              required
              value={study}
              onChange={(e) => setStudy(e.target.value)}
              pattern={UID_PATTERN}
              maxLength={64}
              placeholder="1.2.840.…"
              aria-label="Study Instance UID"
              spellCheck={false}
            />
          </label>
          <label>
            Series Instance UID <span className="muted small">(optional)</span>{' '}
            <input
              value={series}
              onChange={(e) => setSeries(e.target.value)}
              pattern={UID_PATTERN}
              maxLength={64}
              aria-label="Series Instance UID"
              spellCheck={false}
            />
          </label>
          <div className="pacs-actions">
            <button type="submit" className="btn primary" disabled={busy || !source}>
              {busy ? 'Looking up the study…' : 'Import'}
            </button>
            <button type="button" className="btn" onClick={onClose}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {error && (
        <p className="upload-error" role="alert">
          <span className="error-text">{error.text}</span>{' '}
          <span className="muted small upload-error-detail">{error.detail}</span>
        </p>
      )}
    </form>
  );
}
