import { useEffect, useState, type FormEvent } from 'react';
import type { SecondOpinionCandidatesDto, SecondOpinionDto, WorklistItem } from '../../../protocol/cases.ts';
import { askSecondOpinion, getOpinionCandidates } from './api.ts';
import { subspecialtyLabel } from './constants.ts';
import { errorMessage } from './useLoader.ts';

/**
 * Asking a case's second opinion: the question (which leaves the site, so no identifiers) and the
 * specialist, the suggested one (least loaded) preselected, any other of the case's subspecialty on
 * offer; with nobody to ask, the form says so and cannot be sent.
 */
export function SecondOpinionForm({
  item,
  onDone,
  onCancel,
}: {
  item: Pick<WorklistItem, 'id' | 'accession' | 'subspecialty'>;
  onDone: (o: SecondOpinionDto) => void;
  onCancel: () => void;
}) {
  const [question, setQuestion] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [who, setWho] = useState<SecondOpinionCandidatesDto | null>(null);
  const [chosen, setChosen] = useState('');
  useEffect(() => {
    const ac = new AbortController();
    getOpinionCandidates(item.id, ac.signal).then(
      (c) => {
        setWho(c);
        setChosen(c.suggested ?? '');
      },
      (e: unknown) => !ac.signal.aborted && setError(errorMessage(e)),
    );
    return () => ac.abort();
  }, [item.id]);
  const nobody = who !== null && who.candidates.length === 0;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const q = question.trim();
    if (!q) {
      setError('Write the question for the specialist.');
      return;
    }
    setBusy(true);
    setError(null);
    askSecondOpinion(item.id, q, chosen || undefined).then(onDone, (err: unknown) => {
      setBusy(false);
      setError(errorMessage(err));
    });
  };
  return (
    <form className="opinion-form" onSubmit={submit}>
      <label className="opinion-label" htmlFor={`q-${item.id}`}>
        Question for a {subspecialtyLabel(item.subspecialty)} specialist about {item.accession}
      </label>
      <p className="opinion-warning" id={`q-warn-${item.id}`} data-testid="opinion-warning">
        This question leaves the site: it goes to a specialist elsewhere with the slides de-identified. Do not
        write the patient&apos;s name, NHS number, date of birth, the accession or any other identifier; a
        question with an accession or an NHS number is refused.
      </p>
      {nobody ? (
        <p className="error-text small" role="alert" data-testid="no-specialist">
          No {subspecialtyLabel(item.subspecialty)} specialist is available in the network (none listed with
          it, or all on leave). Nothing can be sent; an administrator can add the subspecialty to a
          specialist.
        </p>
      ) : (
        <label className="opinion-label small">
          Specialist{' '}
          <select
            value={chosen}
            onChange={(e) => setChosen(e.target.value)}
            disabled={who === null}
            data-testid="opinion-specialist"
          >
            {who === null && <option value="">Loading…</option>}
            {who?.candidates.map((c) => (
              <option key={c.userId} value={c.userId}>
                {c.name} · {c.siteName} · {c.waiting} waiting
                {c.userId === who.suggested ? ' (suggested: least loaded)' : ''}
              </option>
            ))}
          </select>
        </label>
      )}
      <textarea
        id={`q-${item.id}`}
        aria-describedby={`q-warn-${item.id}`}
        className="opinion-text"
        rows={3}
        maxLength={2000}
        value={question}
        onChange={(e) => setQuestion(e.target.value)}
        placeholder="What would you like a second opinion on?"
        autoFocus
      />
      <div className="opinion-actions">
        <button type="submit" className="btn primary small" disabled={busy || nobody || who === null}>
          {busy ? 'Asking…' : 'Ask'}
        </button>
        <button type="button" className="btn small" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        {error && (
          <span className="error-text small" role="alert">
            {error}
          </span>
        )}
      </div>
    </form>
  );
}
