import { useState } from 'react';
import type { BalanceResult, PathologistDto, Suggestion } from '../../../protocol/cases.ts';
import { getJson } from '../api.ts';
import { decideBalance, decideBalanceBatch, getBalanceSuggestions, updateCase } from '../cases/api.ts';
import { SUBSPECIALTY_LABELS } from '../cases/constants.ts';
import type { DashboardFilter } from '../cases/filters.ts';
import {
  breachTone,
  formatDaysToBreach,
  formatMillis,
  formatPoints,
  formatPts,
  reasonLabel,
} from '../cases/format.ts';
import { PriorityBadge } from '../cases/PriorityBadge.tsx';
import { errorMessage } from '../cases/useLoader.ts';
import { afterBatch, handReceivers } from './balance.ts';

type RowState = { busy: boolean; error: string | null };

function SuggestionRow({
  s,
  state,
  selected,
  people,
  onSelect,
  onDecide,
  onSend,
}: {
  s: Suggestion;
  state: RowState | undefined;
  selected: boolean;
  people: readonly PathologistDto[] | null;
  onSelect: (on: boolean) => void;
  onDecide: (accept: boolean) => void;
  onSend: (to: string) => void;
}) {
  const others = people ? handReceivers(s, people).filter((p) => p.userId !== s.to) : [];
  return (
    <li className="suggestion" data-testid="suggestion" data-case={s.accession}>
      <div className="suggestion-main">
        <input
          type="checkbox"
          checked={selected}
          disabled={state?.busy}
          onChange={(e) => onSelect(e.target.checked)}
          aria-label={`Select ${s.accession}`}
        />
        <span className="accession mono">{s.accession}</span>
        <PriorityBadge priority={s.priority} />
        <span className={`breach breach-${breachTone(s.daysToBreach)} small`} data-testid="suggestion-breach">
          {formatDaysToBreach(s.daysToBreach)}
        </span>
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
      <div className="suggestion-reason muted small" data-testid="suggestion-receiver">
        {reasonLabel(s.reason)} · {SUBSPECIALTY_LABELS[s.subspecialty]} case · to {s.toName} at {s.toSiteName}{' '}
        ({s.toSubspecialties.map((x) => SUBSPECIALTY_LABELS[x]).join(', ')}), load {formatPoints(s.toLoad)} /{' '}
        {formatPts(s.toCapacity)}
      </div>
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
        <select
          className="small"
          aria-label={`Send ${s.accession} to someone else`}
          value=""
          disabled={state?.busy || others.length === 0}
          onChange={(e) => e.target.value && onSend(e.target.value)}
        >
          <option value="">{others.length === 0 ? 'Nobody else eligible' : 'Send to…'}</option>
          {others.map((p) => (
            <option key={p.userId} value={p.userId}>
              {p.name} · {p.siteName} · {formatPoints(p.load)} / {formatPts(p.weeklyCapacity)}
            </option>
          ))}
        </select>
      </div>
      {state?.error && (
        <div className="error-text small" role="alert">
          {state.error}
        </div>
      )}
    </li>
  );
}

/**
 * "Suggest rebalancing": the server's proposed moves, accepted one by one, all at once or a
 * selection; a rejected one is not proposed again while its case stays as it is; any case may be
 * sent to another eligible pathologist by hand.
 */
export function BalancePanel({ filter, onMoved }: { filter: DashboardFilter; onMoved: () => void }) {
  const [result, setResult] = useState<BalanceResult | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [rows, setRows] = useState<Record<string, RowState>>({});
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [people, setPeople] = useState<PathologistDto[] | null>(null);
  const [decided, setDecided] = useState({ accepted: 0, rejected: 0, refused: 0 });

  const suggest = () => {
    setLoading(true);
    setError(null);
    setRows({});
    setSelected(new Set());
    setDecided({ accepted: 0, rejected: 0, refused: 0 });
    getJson<PathologistDto[]>('/api/pathologists').then(setPeople, () => setPeople(null));
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

  const drop = (ids: ReadonlySet<string>) => {
    setResult((r) => r && { ...r, suggestions: r.suggestions.filter((x) => !ids.has(x.caseId)) });
    setSelected((sel) => new Set([...sel].filter((id) => !ids.has(id))));
  };

  const decide = (s: Suggestion, accept: boolean) => {
    setRows((r) => ({ ...r, [s.caseId]: { busy: true, error: null } }));
    decideBalance({ caseId: s.caseId, to: s.to, from: s.from, accept }).then(
      () => {
        drop(new Set([s.caseId]));
        setDecided((d) => (accept ? { ...d, accepted: d.accepted + 1 } : { ...d, rejected: d.rejected + 1 }));
        if (accept) onMoved();
      },
      (e: unknown) => setRows((r) => ({ ...r, [s.caseId]: { busy: false, error: errorMessage(e) } })),
    );
  };

  const send = (s: Suggestion, to: string) => {
    setRows((r) => ({ ...r, [s.caseId]: { busy: true, error: null } }));
    updateCase(s.caseId, { assignedTo: to }).then(
      () => {
        drop(new Set([s.caseId]));
        setDecided((d) => ({ ...d, accepted: d.accepted + 1 }));
        onMoved();
      },
      (e: unknown) => setRows((r) => ({ ...r, [s.caseId]: { busy: false, error: errorMessage(e) } })),
    );
  };

  const acceptMany = (list: readonly Suggestion[]) => {
    if (list.length === 0) return;
    setRows((r) => ({
      ...r,
      ...Object.fromEntries(list.map((s) => [s.caseId, { busy: true, error: null }])),
    }));
    decideBalanceBatch(list.map((s) => ({ caseId: s.caseId, to: s.to, from: s.from, accept: true }))).then(
      (out) => {
        const { errors } = afterBatch(list, out);
        drop(new Set(out.results.filter((x) => x.ok).map((x) => x.caseId)));
        setRows((r) => ({
          ...r,
          ...Object.fromEntries(
            list.map((s) => [s.caseId, { busy: false, error: errors[s.caseId] ?? null }]),
          ),
        }));
        setDecided((d) => ({ ...d, accepted: d.accepted + out.applied, refused: d.refused + out.refused }));
        if (out.applied > 0) onMoved();
      },
      (e: unknown) =>
        setRows((r) => ({
          ...r,
          ...Object.fromEntries(list.map((s) => [s.caseId, { busy: false, error: errorMessage(e) }])),
        })),
    );
  };

  const list = result?.suggestions ?? [];
  const chosen = list.filter((s) => selected.has(s.caseId));
  const busy = Object.values(rows).some((r) => r.busy);
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
          cases first, the case&apos;s own site preferred. A rejected move is not proposed again while its
          case stays as it is.
        </p>
      )}
      {result && (
        <>
          <p className="muted small" data-testid="balance-summary">
            {list.length === 0
              ? decided.accepted + decided.rejected > 0
                ? `All suggestions decided (${decided.accepted} accepted, ${decided.rejected} rejected).`
                : 'No moves needed.'
              : `${list.length} suggested move${list.length === 1 ? '' : 's'}${decided.refused > 0 ? `; ${decided.refused} could not be made (reason under each)` : ''}.`}{' '}
            Computed in {formatMillis(result.millis)}.
          </p>
          {list.length > 0 && (
            <div className="suggestion-bulk">
              <label className="small">
                <input
                  type="checkbox"
                  checked={chosen.length === list.length}
                  onChange={(e) =>
                    setSelected(e.target.checked ? new Set(list.map((s) => s.caseId)) : new Set())
                  }
                />{' '}
                Select all
              </label>
              <button
                type="button"
                className="btn small primary"
                disabled={busy}
                onClick={() => acceptMany(list)}
                data-testid="accept-all"
              >
                Accept all ({list.length})
              </button>
              <button
                type="button"
                className="btn small"
                disabled={busy || chosen.length === 0}
                onClick={() => acceptMany(chosen)}
                data-testid="accept-selected"
              >
                Accept selected ({chosen.length})
              </button>
            </div>
          )}
          {list.length > 0 && (
            <ul className="suggestions">
              {list.map((s) => (
                <SuggestionRow
                  key={s.caseId}
                  s={s}
                  state={rows[s.caseId]}
                  selected={selected.has(s.caseId)}
                  people={people}
                  onSelect={(on) =>
                    setSelected((sel) => {
                      const next = new Set(sel);
                      if (on) next.add(s.caseId);
                      else next.delete(s.caseId);
                      return next;
                    })
                  }
                  onDecide={(a) => decide(s, a)}
                  onSend={(to) => send(s, to)}
                />
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
