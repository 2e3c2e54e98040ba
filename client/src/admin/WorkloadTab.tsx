import { type FormEvent, useCallback, useEffect, useState } from 'react';
import type { WorkloadRuleDto } from '../../../protocol/index.ts';
import { errorMessage, useLoader } from '../cases/useLoader.ts';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';
import { getWorkloadRules, setWorkloadRules } from './api.ts';
import { FormError } from './fields.tsx';

const SPECIAL: Record<string, string> = {
  '*per_slide': 'Each slide of a case (added)',
  '*fallback': 'Any other specimen type',
};

/** The workload points balancing counts: points per case by specimen type, per slide, and for others. */
export function WorkloadTab() {
  const [state, reload] = useLoader(
    useCallback((s: AbortSignal) => getWorkloadRules(s), []),
    'rules',
  );
  const [rules, setRules] = useState<WorkloadRuleDto[]>([]);
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [removed, setRemoved] = useState<Set<string>>(new Set());
  const [newType, setNewType] = useState('');
  const [newPoints, setNewPoints] = useState('1');
  const [error, setError] = useState('');
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (state.status === 'ready') setRules(state.data);
  }, [state]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, number | null> = {};
    for (const [t, v] of Object.entries(edits)) body[t] = v.trim() === '' ? Number.NaN : Number(v);
    for (const t of removed) body[t] = null;
    if (newType.trim()) body[newType.trim()] = Number(newPoints);
    for (const [t, v] of Object.entries(body))
      if (v !== null && !Number.isFinite(v)) return setError(`${t}: points are a number from 0 to 100`);
    if (Object.keys(body).length === 0) return setError('Nothing changed.');
    setBusy(true);
    setError('');
    setSaved('');
    try {
      setRules(await setWorkloadRules(body));
      setEdits({});
      setRemoved(new Set());
      setNewType('');
      setNewPoints('1');
      setSaved('Points saved: balancing counts them from now on.');
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  if (state.status === 'down') return <ServerDown onRetry={reload} />;
  if (state.status === 'error') return <Failure message={state.message} onRetry={reload} />;
  if (state.status === 'loading' && rules.length === 0) return <Spinner label="Loading the points table…" />;
  const sorted = [...rules].sort(
    (a, b) =>
      Number(b.specimen_type.startsWith('*')) - Number(a.specimen_type.startsWith('*')) ||
      a.specimen_type.localeCompare(b.specimen_type),
  );
  return (
    <form onSubmit={(e) => void save(e)} aria-label="Workload points" className="workload">
      <p className="muted">
        A case weighs the points of its specimen type plus the per-slide points for each slide. Balancing
        compares these with each pathologist’s weekly capacity.
      </p>
      <table className="cases rules" data-testid="workload-rules">
        <thead>
          <tr>
            <th>Specimen type</th>
            <th className="num">Points</th>
            <th>
              <span className="visually-hidden">Remove</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => {
            const t = r.specimen_type;
            const gone = removed.has(t);
            return (
              <tr key={t} data-rule={t} className={gone ? 'removed-row' : undefined}>
                <td>{SPECIAL[t] ?? t.replace(/_/g, ' ')}</td>
                <td className="num">
                  <input
                    type="number"
                    min={0}
                    max={100}
                    step="any"
                    aria-label={`Points for ${SPECIAL[t] ?? t}`}
                    value={edits[t] ?? String(r.points)}
                    disabled={gone}
                    onChange={(e) => setEdits({ ...edits, [t]: e.target.value })}
                  />
                </td>
                <td>
                  {!t.startsWith('*') && (
                    <button
                      type="button"
                      className="btn small"
                      onClick={() => {
                        const next = new Set(removed);
                        if (gone) next.delete(t);
                        else next.add(t);
                        setRemoved(next);
                      }}
                    >
                      {gone ? 'Keep' : 'Remove'}
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
          <tr>
            <td>
              <input
                aria-label="New specimen type"
                placeholder="new specimen type, e.g. autopsy"
                value={newType}
                onChange={(e) => setNewType(e.target.value)}
              />
            </td>
            <td className="num">
              <input
                type="number"
                min={0}
                max={100}
                step="any"
                aria-label="Points for the new specimen type"
                value={newPoints}
                onChange={(e) => setNewPoints(e.target.value)}
              />
            </td>
            <td />
          </tr>
        </tbody>
      </table>
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={busy}>
          Save points
        </button>
        <FormError message={error} />
        {saved && (
          <span className="ok-text small" role="status">
            {saved}
          </span>
        )}
      </div>
    </form>
  );
}
