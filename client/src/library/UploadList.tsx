import { formatBytes } from '../ui/format.ts';
import { Link } from '../ui/router.tsx';
import type { UploadItem } from './uploads.ts';

function Bar({ value, indeterminate }: { value: number; indeterminate?: boolean }) {
  return (
    <div
      className={`bar${indeterminate ? ' indeterminate' : ''}`}
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={indeterminate ? undefined : Math.round(value)}
    >
      <div
        className="bar-fill"
        style={{ width: indeterminate ? undefined : `${Math.max(0, Math.min(100, value))}%` }}
      />
    </div>
  );
}

function Status({ it }: { it: UploadItem }) {
  switch (it.phase) {
    case 'waiting':
      return <span className="muted">Waiting to upload…</span>;
    case 'uploading': {
      const pct = it.bytes > 0 ? (100 * it.loaded) / it.bytes : 0;
      return (
        <>
          <Bar value={pct} />
          <span className="muted small">
            Uploading {formatBytes(it.loaded)} of {formatBytes(it.bytes)} ({Math.floor(pct)}%)
          </span>
        </>
      );
    }
    case 'queued':
      return (
        <>
          <Bar value={0} indeterminate />
          <span className="muted small">
            {it.source ? `Queued (from ${it.source})` : 'Uploaded; queued for conversion'}
            {it.stale ? ' (reconnecting…)' : ''}
          </span>
        </>
      );
    case 'running':
      return (
        <>
          <Bar value={it.percent} />
          <span className="muted small">
            {/* An import's first stage is its retrieval from the archive, said as the server says it. */}
            {it.source && it.stage?.startsWith('retrieving ')
              ? it.stage.replace(/^retrieving/, 'Retrieving')
              : `Converting${it.stage ? `: ${it.stage}` : ''}`}{' '}
            · {Math.floor(it.percent)}%{it.stale ? ' (reconnecting…)' : ''}
          </span>
        </>
      );
    case 'done':
      if (it.duplicateOf)
        return (
          <span className="upload-duplicate" data-testid="upload-duplicate">
            Already in the library as{' '}
            <Link to={`/view/${it.duplicateOf.slideId}`} className="upload-open">
              {it.duplicateOf.name}
            </Link>
          </span>
        );
      return (
        <span className="ok-text">
          Ready{' '}
          {it.slideId && (
            <Link to={`/view/${it.slideId}`} className="upload-open">
              Open slide →
            </Link>
          )}
        </span>
      );
    case 'failed':
      return (
        <span className="upload-error" role="alert">
          <span className="error-text">{it.error?.text ?? 'The slide could not be added.'}</span>
          {it.error && <span className="muted small upload-error-detail">{it.error.detail}</span>}
        </span>
      );
    case 'cancelled':
      return <span className="muted">Cancelled</span>;
  }
}

export function UploadList({
  items,
  onCancel,
  onDismiss,
}: {
  items: UploadItem[];
  onCancel: (key: number) => void;
  onDismiss: (key: number) => void;
}) {
  if (items.length === 0) return null;
  return (
    <section className="uploads" aria-label="Uploads">
      <h2 className="section-title">Uploads</h2>
      <ul>
        {items.map((it) => {
          const active = it.phase === 'waiting' || it.phase === 'uploading';
          const finished = it.phase === 'done' || it.phase === 'failed' || it.phase === 'cancelled';
          return (
            <li key={it.key} className={`upload phase-${it.phase}`} data-phase={it.phase}>
              <div className="upload-head">
                <span className="upload-name" title={it.name}>
                  {it.name}
                </span>
                <span className="muted small">{it.source ? `from ${it.source}` : formatBytes(it.bytes)}</span>
                {active && (
                  <button type="button" className="btn small" onClick={() => onCancel(it.key)}>
                    Cancel
                  </button>
                )}
                {finished && (
                  <button
                    type="button"
                    className="icon-btn"
                    aria-label={`Dismiss ${it.name}`}
                    onClick={() => onDismiss(it.key)}
                  >
                    ×
                  </button>
                )}
              </div>
              <div className="upload-status">
                <Status it={it} />
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
