import type { ReactNode } from 'react';
import { Link } from './router.tsx';

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state" role="status" aria-live="polite">
      <div className="spinner" aria-hidden="true" />
      <div>{label}</div>
    </div>
  );
}

export function NotFound({ what = 'Slide not found', detail }: { what?: string; detail?: ReactNode }) {
  return (
    <div className="state" role="alert">
      <h1>{what}</h1>
      {detail && <p className="muted">{detail}</p>}
      <p>
        <Link to="/">← Back to the slide library</Link>
      </p>
    </div>
  );
}

export function ServerDown({ onRetry, detail }: { onRetry: () => void; detail?: string }) {
  return (
    <div className="state" role="alert">
      <h1>Cannot reach the Tessera server</h1>
      <p className="muted">
        {detail ?? 'The server did not answer. It may be restarting or the network may be down.'}
      </p>
      <button type="button" className="btn primary" onClick={onRetry}>
        Retry
      </button>
    </div>
  );
}

export function Failure({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div className="state" role="alert">
      <h1>Something went wrong</h1>
      <p className="error-text">{message}</p>
      {onRetry && (
        <button type="button" className="btn" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
