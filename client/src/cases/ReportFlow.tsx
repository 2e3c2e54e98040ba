import { useCallback, useEffect, useRef, useState } from 'react';
import { statusLabel } from './constants.ts';
import { reportCase, undoReport } from './case-api.ts';
import { REPORT_UNDO_MS, secondsLeft } from './case-nav.ts';
import { errorMessage } from './useLoader.ts';

interface Target {
  id: string;
  accession: string;
}

export interface ReportFlow {
  /** Ask to confirm "Mark reported" for a case. */
  ask(t: Target): void;
  confirming: Target | null;
  undoable: (Target & { until: string }) | null;
  busy: boolean;
  message: { text: string; error: boolean } | null;
  confirm(): void;
  cancel(): void;
  undo(): void;
  dismiss(): void;
  /** Offer the undo of a report made earlier (the server said it still may be undone). */
  resume(t: Target & { until: string }): void;
}

/**
 * "Mark reported": a confirmation first, then REPORT_UNDO_MS during which a toast offers Undo (the
 * server checks the window again, and that nothing else changed the case). `onChanged` reloads the page.
 */
export function useReportFlow(onChanged: () => void): ReportFlow {
  const [confirming, setConfirming] = useState<Target | null>(null);
  const [undoable, setUndoable] = useState<(Target & { until: string }) | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<ReportFlow['message']>(null);
  const changed = useRef(onChanged);
  changed.current = onChanged;

  const confirm = useCallback(() => {
    if (!confirming) return;
    const t = confirming;
    setBusy(true);
    setMessage(null);
    reportCase(t.id).then(
      () => {
        setBusy(false);
        setConfirming(null);
        // The toast's own clock: the server's may differ from this one.
        setUndoable({ ...t, until: new Date(Date.now() + REPORT_UNDO_MS).toISOString() });
        changed.current();
      },
      (e: unknown) => {
        setBusy(false);
        setConfirming(null);
        setMessage({ text: errorMessage(e), error: true });
      },
    );
  }, [confirming]);

  const undo = useCallback(() => {
    if (!undoable) return;
    const t = undoable;
    setBusy(true);
    undoReport(t.id).then(
      (c) => {
        setBusy(false);
        setUndoable(null);
        setMessage({
          text: `${t.accession} is no longer reported (back to ${statusLabel(c.status)}).`,
          error: false,
        });
        changed.current();
      },
      (e: unknown) => {
        setBusy(false);
        setUndoable(null);
        setMessage({ text: `Could not undo: ${errorMessage(e)}`, error: true });
        changed.current();
      },
    );
  }, [undoable]);

  const resume = useCallback(
    (t: Target & { until: string }) => setUndoable((cur) => (cur && cur.id === t.id ? cur : t)),
    [],
  );

  return {
    resume,
    ask: (t) => {
      setMessage(null);
      setConfirming(t);
    },
    confirming,
    undoable,
    busy,
    message,
    confirm,
    cancel: () => setConfirming(null),
    undo,
    dismiss: () => {
      setUndoable(null);
      setMessage(null);
    },
  };
}

function ConfirmDialog({ flow }: { flow: ReportFlow }) {
  const ok = useRef<HTMLButtonElement>(null);
  const t = flow.confirming;
  useEffect(() => {
    ok.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && flow.cancel();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });
  if (!t) return null;
  return (
    <div className="modal-backdrop">
      <div className="confirm-dialog" role="dialog" aria-modal="true" aria-labelledby="report-title">
        <h2 id="report-title">Mark {t.accession} reported?</h2>
        <p>
          The case leaves your worklist and its turnaround stops. You can undo this for{' '}
          {REPORT_UNDO_MS / 1000} seconds.
        </p>
        <div className="confirm-actions">
          <button type="button" className="btn" onClick={flow.cancel} disabled={flow.busy}>
            Cancel
          </button>
          <button type="button" className="btn primary" ref={ok} onClick={flow.confirm} disabled={flow.busy}>
            Mark reported
          </button>
        </div>
      </div>
    </div>
  );
}

function UndoToast({ flow }: { flow: ReportFlow }) {
  const u = flow.undoable;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!u) return;
    const timer = window.setInterval(() => setNow(Date.now()), 250);
    return () => window.clearInterval(timer);
  }, [u]);
  // `now` only makes the toast render again; the time is read fresh (the state is old on a first render).
  const left = u ? secondsLeft(u.until, Math.max(now, Date.now())) : 0;
  const { dismiss } = flow;
  useEffect(() => {
    if (u && left === 0) dismiss();
  }, [u, left, dismiss]);
  if (!u || left === 0) return null;
  return (
    <div className="toast" role="status" data-testid="report-toast">
      <span>
        <strong>{u.accession}</strong> marked reported.
      </span>
      <button type="button" className="btn small" onClick={flow.undo} disabled={flow.busy}>
        Undo
      </button>
      <span className="muted small" data-testid="undo-seconds">
        {left} s
      </span>
    </div>
  );
}

/** The confirmation, the undo toast and the outcome of a flow. */
export function ReportFlowUi({ flow }: { flow: ReportFlow }) {
  return (
    <>
      {flow.confirming && <ConfirmDialog flow={flow} />}
      <UndoToast flow={flow} />
      {flow.message && (
        <div
          className={`flow-notice${flow.message.error ? ' error' : ''}`}
          role={flow.message.error ? 'alert' : 'status'}
        >
          {flow.message.text}
          <button type="button" className="icon-btn" aria-label="Dismiss" onClick={flow.dismiss}>
            ×
          </button>
        </div>
      )}
    </>
  );
}
