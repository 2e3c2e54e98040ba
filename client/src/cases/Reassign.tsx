import { useEffect, useState } from 'react';
import type { CaseDto, PathologistDto } from '../../../protocol/cases.ts';
import { getJson } from '../api.ts';
import { handReceivers } from '../dashboard/balance.ts';
import { updateCase } from './api.ts';
import { formatPoints, formatPts } from './format.ts';
import { errorMessage } from './useLoader.ts';

/** A lab manager's reassignment of an open case to another eligible pathologist (audited by the server). */
export function Reassign({ c, onDone }: { c: CaseDto; onDone: () => void }) {
  const [people, setPeople] = useState<PathologistDto[] | null>(null);
  const [to, setTo] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    getJson<PathologistDto[]>('/api/pathologists', ac.signal).then(
      (p) => setPeople(p),
      (e: unknown) => !ac.signal.aborted && setError(errorMessage(e)),
    );
    return () => ac.abort();
  }, []);
  const targets = people ? handReceivers({ subspecialty: c.subspecialty, from: c.assignedTo }, people) : [];
  const submit = () => {
    if (!to) return;
    setBusy(true);
    setError(null);
    updateCase(c.id, { assignedTo: to }).then(
      () => {
        setBusy(false);
        setTo('');
        onDone();
      },
      (e: unknown) => {
        setBusy(false);
        setError(errorMessage(e));
      },
    );
  };
  return (
    <div className="case-reassign" data-testid="case-reassign">
      <label className="small">
        Reassign to{' '}
        <select value={to} onChange={(e) => setTo(e.target.value)} disabled={busy || people === null}>
          <option value="">
            {people === null ? 'Loading…' : targets.length ? 'Choose…' : 'Nobody eligible'}
          </option>
          {targets.map((p) => (
            <option key={p.userId} value={p.userId}>
              {p.name} · {p.siteName} · {formatPoints(p.load)} / {formatPts(p.weeklyCapacity)}
            </option>
          ))}
        </select>
      </label>{' '}
      <button type="button" className="btn small" disabled={!to || busy} onClick={submit}>
        {busy ? 'Reassigning…' : 'Reassign'}
      </button>
      {error && (
        <span className="error-text small" role="alert">
          {' '}
          {error}
        </span>
      )}
    </div>
  );
}
