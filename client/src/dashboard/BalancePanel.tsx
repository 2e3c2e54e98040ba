import { useState } from 'react';
import type { BalanceResult, Suggestion } from '../../../protocol/cases.ts';
import { decideBalance, getBalanceSuggestions } from '../cases/api.ts';
import type { DashboardFilter } from '../cases/filters.ts';
import { formatMillis, formatPoints, formatPts, reasonLabel } from '../cases/format.ts';
import { PriorityBadge } from '../cases/PriorityBadge.tsx';
import { errorMessage } from '../cases/useLoader.ts';

type RowState = { busy: boolean; error: string | null };

function SuggestionRow({
  s,
  state,
  onDecide,
}: {
  s: Suggestion;
  state: RowState | undefined;
  onDecide: (accept: boolean) => void;
}) {
  return (
    <li className="suggestion" data-testid="suggestion" data-case={s.accession}>
      <div className="suggestion-main">
        <span className="accession mono">{s.accession}</span>
        <PriorityBadge priority={s.priority} />
        <span className="suggestion-move">
          <span className={s.fromName ? '' : 'muted'}>{s.fromName ?? 'unassigned'}</span>
          <span className="arrow" aria-label="to">
            →
          </span>
          <strong>{s.toName}</strong>
        </span>
        {s.crossSite && <span className="badge cross-site">other site</span>}
        <span className="muted small">{formatPts(s.points)}</span>
      </div>
      <div className="suggestion-reason muted small">{reasonLabel(s.reason)}</div>
      <div className="suggestion-actions">
        <button
          type="button"
          className="btn small primary"
          disabled={state?.busy}
          onClick={() => onDecide(true)}
        >
          Accept
        </button>
        <button type="button" className="btn small" disabled={state?.busy} onClick={() => onDecide(false)}>
          Reject
        </button>
      </div>
      {state?.error && (
        <div className="error-text small" role="alert">
          {state.error}
        </div>
      )}
    </li>
  );
}

/** "Suggest rebalancing": the server's proposed moves, each accepted or rejected on its own. */
export function BalancePanel({ filter, onMoved }: { filter: DashboardFilter; onMoved: () => void }) {
  const [result, setResult] = useState<BalanceResult | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [rows, setRows] = useState<Record<string, RowState>>({});
  const [decided, setDecided] = useState({ accepted: 0, rejected: 0 });

  const suggest = () => {
    setLoading(true);
    setError(null);
    setRows({});
    setDecided({ accepted: 0, rejected: 0 });
    getBalanceSuggestions(filter).then(
      (r) => {
        setResult(r);
        setLoading(false);
      },
      (e: unknown) => {
        setError(errorMessage(e));
        setLoading(false);
      },
    );
  };

  const decide = (s: Suggestion, accept: boolean) => {
    setRows((r) => ({ ...r, [s.caseId]: { busy: true, error: null } }));
    decideBalance({ caseId: s.caseId, to: s.to, from: s.from, accept }).then(
      () => {
        setResult((r) => r && { ...r, suggestions: r.suggestions.filter((x) => x.caseId !== s.caseId) });
        setDecided((d) => (accept ? { ...d, accepted: d.accepted + 1 } : { ...d, rejected: d.rejected + 1 }));
        if (accept) onMoved();
      },
      (e: unknown) => setRows((r) => ({ ...r, [s.caseId]: { busy: false, error: errorMessage(e) } })),
    );
  };

  return (
    <section className="panel balance" aria-labelledby="balance-title">
      <div className="panel-head">
        <h2 id="balance-title" className="section-title">
          Workload balancing
        </h2>
        <button type="button" className="btn primary" onClick={suggest} disabled={loading}>
          {loading ? 'Computing…' : result ? 'Suggest again' : 'Suggest rebalancing'}
        </button>
      </div>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {!result && !error && (
        <p className="muted small">
          Proposes moves that bring every pathologist within capacity: work of people on leave first, urgent
          cases first, the case&apos;s own site preferred.
        </p>
      )}
      {result && (
        <>
          <p className="muted small" data-testid="balance-summary">
            {result.suggestions.length === 0
              ? decided.accepted + decided.rejected > 0
                ? `All suggestions decided (${decided.accepted} accepted, ${decided.rejected} rejected).`
                : 'No moves needed.'
              : `${result.suggestions.length} suggested move${result.suggestions.length === 1 ? '' : 's'}.`}{' '}
            Computed in {formatMillis(result.millis)}.
          </p>
          {result.suggestions.length > 0 && (
            <ul className="suggestions">
              {result.suggestions.map((s) => (
                <SuggestionRow key={s.caseId} s={s} state={rows[s.caseId]} onDecide={(a) => decide(s, a)} />
              ))}
            </ul>
          )}
          {result.stillOver.length > 0 && (
            <div className="still-over" role="note" data-testid="still-over">
              <strong>Still over capacity</strong> (no eligible capacity left):{' '}
              {result.stillOver.map((p, i) => (
                <span key={p.userId} className="nowrap">
                  {i > 0 && ', '}
                  {p.name} ({formatPoints(p.load)} / {formatPts(p.capacity)})
                </span>
              ))}
            </div>
          )}
        </>
      )}
    </section>
  );
}
