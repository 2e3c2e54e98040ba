import { type FormEvent, useCallback, useState } from 'react';
import type { AiTrigger, AlgorithmDto, AppliesTo, BuiltinAlgorithmDto } from '../../../protocol/index.ts';
import { useMe } from '../auth/session.ts';
import { subspecialtyLabel } from '../cases/constants.ts';
import { errorMessage, useLoader } from '../cases/useLoader.ts';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';
import { listAlgorithms, listBuiltins, registerAlgorithm, updateAlgorithm } from './api.ts';
import { FormError } from './fields.tsx';

export const TRIGGER_LABELS: Record<AiTrigger, string> = {
  automatic: 'On upload',
  on_request: 'On request',
};

/** How Tessera reaches the algorithm, as far as the reader may know. */
function endpointText(a: AlgorithmDto): { kind: string; detail: string | null } {
  if (a.builtin)
    return {
      kind: 'Built into Tessera',
      // Administrators see its command (the server's Node running `tessera …`).
      detail: a.endpoint?.kind === 'command' ? `tessera ${a.endpoint.argv.slice(2).join(' ')}` : null,
    };
  if (!a.endpoint) return { kind: 'Registered by an administrator', detail: null };
  if (a.endpoint.kind === 'http') return { kind: 'HTTP endpoint', detail: a.endpoint.url };
  return { kind: 'Command on this server', detail: a.endpoint.argv[0] ?? null };
}

export function appliesText(t: AppliesTo): string {
  const parts = [
    t.subspecialties.length ? t.subspecialties.map(subspecialtyLabel).join(', ') : '',
    t.stains.length ? `${t.stains.map((s) => s.toUpperCase()).join(', ')} stains` : '',
    t.formats.length ? `${t.formats.join(', ')} slides` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'Any slide';
}

function TriggerSelect({
  value,
  onChange,
  label = 'Runs',
  disabled,
}: {
  value: AiTrigger;
  onChange: (t: AiTrigger) => void;
  label?: string;
  disabled?: boolean;
}) {
  return (
    <label>
      {label}
      <select value={value} onChange={(e) => onChange(e.target.value as AiTrigger)} disabled={disabled}>
        <option value="automatic">{TRIGGER_LABELS.automatic}</option>
        <option value="on_request">{TRIGGER_LABELS.on_request}</option>
      </select>
    </label>
  );
}

function AlgorithmRow({
  a,
  canEdit,
  onChanged,
}: {
  a: AlgorithmDto;
  canEdit: boolean;
  onChanged: () => void;
}) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  // Shown as asked at once; the row is drawn anew from the server's answer (its key), or put back on a refusal.
  const [enabled, setEnabled] = useState(a.enabled);
  const [trigger, setTrigger] = useState(a.trigger);
  const change = async (patch: { enabled?: boolean; trigger?: AiTrigger }) => {
    setBusy(true);
    setError('');
    if (patch.enabled !== undefined) setEnabled(patch.enabled);
    if (patch.trigger !== undefined) setTrigger(patch.trigger);
    try {
      await updateAlgorithm(a.id, patch);
      onChanged();
    } catch (err) {
      setEnabled(a.enabled);
      setTrigger(a.trigger);
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const how = endpointText(a);
  const label = `${a.name} ${a.version}`;
  return (
    <tr data-algorithm={a.id} data-name={label} className={a.enabled ? undefined : 'disabled-row'}>
      <td>
        <span className="person">{a.name}</span>
        {!a.enabled && <span className="badge disabled">Disabled</span>}
        {a.description && <div className="muted small algo-description">{a.description}</div>}
        <FormError message={error} />
      </td>
      <td className="mono small">{a.version}</td>
      <td data-k="endpoint">
        {how.kind}
        {how.detail && <div className="mono small muted algo-url">{how.detail}</div>}
        {a.identifiedData && <div className="small warn-text">Sees identified data</div>}
      </td>
      <td data-k="trigger">
        {canEdit ? (
          <select
            aria-label={`When ${label} runs`}
            value={trigger}
            disabled={busy}
            onChange={(e) => void change({ trigger: e.target.value as AiTrigger })}
          >
            <option value="automatic">{TRIGGER_LABELS.automatic}</option>
            <option value="on_request">{TRIGGER_LABELS.on_request}</option>
          </select>
        ) : (
          TRIGGER_LABELS[a.trigger]
        )}
      </td>
      <td data-k="enabled">
        <label className="check">
          <input
            type="checkbox"
            aria-label={`${label} enabled`}
            checked={enabled}
            disabled={!canEdit || busy}
            onChange={(e) => void change({ enabled: e.target.checked })}
          />
          {enabled ? 'Enabled' : 'Off'}
        </label>
      </td>
      <td data-k="applies" className="small">
        {appliesText(a.appliesTo)}
      </td>
      <td className="small muted">{a.createdAt.slice(0, 10)}</td>
    </tr>
  );
}

function RegisterBuiltin({ b, onDone }: { b: BuiltinAlgorithmDto; onDone: () => void }) {
  const [trigger, setTrigger] = useState<AiTrigger>('automatic');
  const [enabled, setEnabled] = useState(true);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await registerAlgorithm({ builtin: b.key, trigger, enabled });
      onDone();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const what = b.key === 'reference' ? 'the reference algorithm' : b.name;
  return (
    <form
      className="panel admin-form"
      onSubmit={(e) => void submit(e)}
      aria-label={`Register ${what}`}
      data-builtin={b.key}
    >
      <h3>
        {b.name} <span className="muted small mono">{b.version}</span>
      </h3>
      <p className="muted small algo-description">{b.description}</p>
      {b.registeredId ? (
        <p className="ok-text small" role="status">
          Registered: it is in the list above.
        </p>
      ) : (
        <div className="inline-form">
          <TriggerSelect value={trigger} onChange={setTrigger} />
          <label className="check">
            <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
            Enabled
          </label>
          <button type="submit" className="btn primary small" disabled={busy}>
            Register {what}
          </button>
          <FormError message={error} />
        </div>
      )}
      <p className="muted small">
        Built into Tessera: it runs on this server and sees slides de-identified. Its command is the server’s
        own.
      </p>
    </form>
  );
}

function RegisterHttp({ onDone }: { onDone: () => void }) {
  const [name, setName] = useState('');
  const [version, setVersion] = useState('');
  const [url, setUrl] = useState('');
  const [trigger, setTrigger] = useState<AiTrigger>('on_request');
  const [identified, setIdentified] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await registerAlgorithm({
        name,
        version,
        endpoint: { kind: 'http', url },
        trigger,
        identifiedData: identified,
      });
      setName('');
      setVersion('');
      setUrl('');
      setIdentified(false);
      onDone();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="panel admin-form"
      onSubmit={(e) => void submit(e)}
      aria-label="Register an HTTP algorithm"
    >
      <h3>Register an HTTP algorithm</h3>
      <div className="form-grid">
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="Tumour finder" />
        </label>
        <label>
          Version
          <input value={version} onChange={(e) => setVersion(e.target.value)} placeholder="1.0.0" />
        </label>
        <label className="algo-url-field">
          URL
          <input
            type="url"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder="https://ai.example.org/jobs"
          />
        </label>
        <TriggerSelect value={trigger} onChange={setTrigger} />
      </div>
      <div className="form-actions">
        <label className="check">
          <input type="checkbox" checked={identified} onChange={(e) => setIdentified(e.target.checked)} />
          May see identified data (names, accession, label)
        </label>
        <button type="submit" className="btn primary small" disabled={busy}>
          Register
        </button>
        <FormError message={error} />
      </div>
      <p className="muted small">
        Tessera posts each job to the URL with a token for that one slide. A new version is registered anew,
        so quality figures never mix versions.
      </p>
    </form>
  );
}

/**
 * AI algorithms: the registered ones (administrators change any; lab managers enable, disable and
 * set when the built-in ones run), the built-ins to register, and for administrators an HTTP one.
 */
export function AlgorithmsTab() {
  const { user } = useMe();
  const admin = user.role === 'admin';
  const [state, reload] = useLoader(
    useCallback(async (s: AbortSignal) => {
      const [algorithms, builtins] = await Promise.all([listAlgorithms(s), listBuiltins(s)]);
      return { algorithms, builtins };
    }, []),
    'algorithms',
  );
  if (state.status === 'down' && !state.data) return <ServerDown onRetry={reload} />;
  if (state.status === 'error' && !state.data) return <Failure message={state.message} onRetry={reload} />;
  if (!state.data) return <Spinner label="Loading the algorithms…" />;
  const { algorithms, builtins } = state.data;
  return (
    <section aria-label="Algorithms" className="algorithms">
      <p className="muted">
        {admin
          ? 'Algorithms run on slides on upload or when a pathologist asks; their results are layers in the viewer.'
          : 'You may register and change the algorithms built into Tessera. Algorithms with an endpoint of their own (a command or a URL) are registered and changed by an administrator.'}
      </p>
      {algorithms.length === 0 ? (
        <p className="empty-line muted" data-testid="algorithms-empty">
          No algorithm is registered yet.
        </p>
      ) : (
        <table className="cases algorithms-table" data-testid="algorithms">
          <thead>
            <tr>
              <th>Algorithm</th>
              <th>Version</th>
              <th>AI endpoint</th>
              <th>Runs</th>
              <th>Enabled</th>
              <th>Applies to</th>
              <th>Registered</th>
            </tr>
          </thead>
          <tbody>
            {algorithms.map((a) => (
              <AlgorithmRow
                key={`${a.id}:${a.enabled}:${a.trigger}:${a.updatedAt}`}
                a={a}
                canEdit={admin || a.builtin !== null}
                onChanged={reload}
              />
            ))}
          </tbody>
        </table>
      )}
      <div className="algo-forms">
        {builtins.map((b) => (
          <RegisterBuiltin key={b.key} b={b} onDone={reload} />
        ))}
        {admin && <RegisterHttp onDone={reload} />}
      </div>
    </section>
  );
}
