import { type FormEvent, useState } from 'react';
import type { AdminUserDto, Role, SiteDto, Subspecialty } from '../../../protocol/index.ts';
import { useMe } from '../auth/session.ts';
import { errorMessage } from '../cases/useLoader.ts';
import { addLeave, removeLeave, resetPassword, setDisabled, updatePerson } from './api.ts';
import {
  CaseloadFields,
  FormError,
  RoleSelect,
  SiteSelect,
  hasCaseload,
  leaveText,
  today,
} from './fields.tsx';

function Saved({ part, saved }: { part: string; saved: { part: string; text: string } | null }) {
  if (saved?.part !== part) return null;
  return (
    <span className="ok-text small form-saved" role="status">
      {saved.text}
    </span>
  );
}

/**
 * Everything about one person: role, site, subspecialties and capacity; leave periods; the account
 * (disable or enable, a new password). Each part has its own button and its own error line.
 */
export function PersonEditor({
  person,
  sites,
  onChanged,
}: {
  person: AdminUserDto;
  sites: SiteDto[];
  onChanged: (p: AdminUserDto) => void;
}) {
  const { user: me } = useMe();
  const [role, setRole] = useState<Role>(person.role);
  const [siteId, setSiteId] = useState(person.siteId);
  const [displayName, setDisplayName] = useState(person.displayName);
  const [subs, setSubs] = useState<Subspecialty[]>(person.subspecialties);
  const [capacity, setCapacity] = useState(String(person.weeklyCapacity ?? 20));
  const [from, setFrom] = useState(today());
  const [to, setTo] = useState(today(7));
  const [password, setPassword] = useState('');
  const [generated, setGenerated] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState<{ part: string; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (part: string, fn: () => Promise<void>, done = '') => {
    setBusy(true);
    setErrors((e) => ({ ...e, [part]: '' }));
    setSaved(null);
    try {
      await fn();
      if (done) setSaved({ part, text: done });
    } catch (e) {
      setErrors((x) => ({ ...x, [part]: errorMessage(e) }));
    } finally {
      setBusy(false);
    }
  };

  const saveDetails = (e: FormEvent) => {
    e.preventDefault();
    void run(
      'details',
      async () => {
        onChanged(
          await updatePerson(person.id, {
            displayName,
            ...(role !== person.role ? { role } : {}),
            ...(siteId !== person.siteId ? { siteId } : {}),
            ...(hasCaseload(role) ? { subspecialties: subs, weeklyCapacity: Number(capacity) } : {}),
          }),
        );
      },
      'Changes saved.',
    );
  };

  const addPeriod = (e: FormEvent) => {
    e.preventDefault();
    void run('leave', async () => onChanged(await addLeave(person.id, { from, to })), 'Leave added.');
  };

  const self = person.id === me.id;
  const lockedAdmin = person.role === 'admin' && me.role !== 'admin';

  if (lockedAdmin)
    return (
      <p className="muted" data-testid="person-editor">
        Only an administrator may change an administrator’s account.
      </p>
    );

  return (
    <div className="person-editor" data-testid="person-editor">
      <form className="admin-form" onSubmit={saveDetails} aria-label={`Details of ${person.displayName}`}>
        <h3>Details</h3>
        <div className="form-grid">
          <label>
            Name
            <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} required />
          </label>
          <RoleSelect value={role} onChange={setRole} disabled={self} />
          <SiteSelect value={siteId} sites={sites} onChange={setSiteId} />
          {hasCaseload(role) && (
            <CaseloadFields subs={subs} onSubs={setSubs} capacity={capacity} onCapacity={setCapacity} />
          )}
        </div>
        <div className="form-actions">
          <button type="submit" className="btn primary small" disabled={busy}>
            Save changes
          </button>
          <FormError message={errors['details']} />
          <Saved part="details" saved={saved} />
        </div>
      </form>

      <section className="admin-form" aria-label={`Leave of ${person.displayName}`}>
        <h3>Leave</h3>
        {person.leave.length === 0 ? (
          <p className="muted small">No leave recorded.</p>
        ) : (
          <ul className="leave-list" data-testid="leave-list">
            {person.leave.map((l) => (
              <li key={l.id}>
                <span>{leaveText(l)}</span>
                <button
                  type="button"
                  className="btn small"
                  disabled={busy}
                  onClick={() =>
                    void run(
                      'leave',
                      async () => onChanged(await removeLeave(person.id, l.id)),
                      'Leave removed.',
                    )
                  }
                >
                  Remove
                </button>
              </li>
            ))}
          </ul>
        )}
        <form className="inline-form" onSubmit={addPeriod}>
          <label>
            From
            <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} required />
          </label>
          <label>
            To
            <input type="date" value={to} onChange={(e) => setTo(e.target.value)} required />
          </label>
          <button type="submit" className="btn small" disabled={busy}>
            Add leave
          </button>
        </form>
        <FormError message={errors['leave']} />
        <Saved part="leave" saved={saved} />
      </section>

      <section className="admin-form" aria-label={`Account of ${person.displayName}`}>
        <h3>Account</h3>
        <div className="inline-form">
          {person.disabled ? (
            <button
              type="button"
              className="btn small"
              disabled={busy}
              onClick={() =>
                void run(
                  'account',
                  async () => onChanged(await setDisabled(person.id, false)),
                  'Account enabled.',
                )
              }
            >
              Enable account
            </button>
          ) : (
            <button
              type="button"
              className="btn small danger"
              disabled={busy || self}
              title={self ? 'You cannot disable your own account' : undefined}
              onClick={() => {
                if (!window.confirm(`Disable ${person.displayName}? They are signed out everywhere at once.`))
                  return;
                void run(
                  'account',
                  async () => onChanged(await setDisabled(person.id, true)),
                  `${person.displayName} is disabled and signed out.`,
                );
              }}
            >
              Disable account
            </button>
          )}
        </div>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void run(
              'password',
              async () => {
                await resetPassword(person.id, password);
                setPassword('');
                setGenerated(null);
              },
              'Password set. Their sessions have ended.',
            );
          }}
        >
          <label>
            New password
            <input
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
            />
          </label>
          <button type="submit" className="btn small" disabled={busy}>
            Set password
          </button>
        </form>
        <div className="inline-form">
          <button
            type="button"
            className="btn small"
            disabled={busy}
            onClick={() =>
              void run('password', async () => {
                setGenerated((await resetPassword(person.id)).generatedPassword);
              })
            }
          >
            Generate a password
          </button>
          <span className="muted small">shown here once; their sessions end</span>
        </div>
        {generated && (
          <p className="generated" role="status" data-testid="generated-password">
            New password for {person.name}: <code>{generated}</code> — shown this once; pass it on now.
          </p>
        )}
        <FormError message={errors['account'] || errors['password']} />
        <Saved part="account" saved={saved} />
        <Saved part="password" saved={saved} />
      </section>
    </div>
  );
}
