import { Fragment, type FormEvent, useCallback, useEffect, useState } from 'react';
import type { AdminUserDto, Role, SiteDto, Subspecialty } from '../../../protocol/index.ts';
import { useMe } from '../auth/session.ts';
import { ROLE_LABELS } from '../auth/roles.ts';
import { subspecialtyLabel } from '../cases/constants.ts';
import { errorMessage, useLoader } from '../cases/useLoader.ts';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';
import { createPerson, listPeople, NO_FILTER, type UserFilter, userQuery } from './api.ts';
import { CaseloadFields, FormError, hasCaseload, LeaveSummary, RoleSelect, SiteSelect } from './fields.tsx';
import { PersonEditor } from './PersonEditor.tsx';

function NewPersonForm({
  sites,
  onCreated,
  onCancel,
}: {
  sites: SiteDto[];
  onCreated: (p: AdminUserDto) => void;
  onCancel: () => void;
}) {
  const { user } = useMe();
  const [displayName, setDisplayName] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('pathologist');
  const [siteId, setSiteId] = useState(user.role === 'admin' ? (sites[0]?.id ?? '') : user.siteId);
  const [subs, setSubs] = useState<Subspecialty[]>(['general']);
  const [capacity, setCapacity] = useState('20');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onCreated(
        await createPerson({
          displayName,
          name,
          password,
          role,
          siteId,
          ...(hasCaseload(role) ? { subspecialties: subs, weeklyCapacity: Number(capacity) } : {}),
        }),
      );
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel admin-form new-person" onSubmit={(e) => void submit(e)} aria-label="Add a person">
      <h3>Add a person</h3>
      <div className="form-grid">
        <label>
          Name
          <input
            value={displayName}
            onChange={(e) => setDisplayName(e.target.value)}
            placeholder="Dr Jane Doe"
          />
        </label>
        <label>
          User name
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            autoComplete="off"
            placeholder="jane.doe"
          />
        </label>
        <label>
          Password
          <input
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="new-password"
            placeholder="at least 10 characters"
          />
        </label>
        <RoleSelect value={role} onChange={setRole} />
        <SiteSelect value={siteId} sites={sites} onChange={setSiteId} />
        {hasCaseload(role) && (
          <CaseloadFields subs={subs} onSubs={setSubs} capacity={capacity} onCapacity={setCapacity} />
        )}
      </div>
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={busy}>
          Create
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <FormError message={error} />
      </div>
    </form>
  );
}

function Filters({
  f,
  sites,
  onChange,
}: {
  f: UserFilter;
  sites: SiteDto[];
  onChange: (f: UserFilter) => void;
}) {
  return (
    <div className="admin-filters">
      <input
        type="search"
        aria-label="Search people"
        placeholder="Search by name or user name"
        value={f.q}
        onChange={(e) => onChange({ ...f, q: e.target.value })}
      />
      {sites.length > 1 && (
        <select aria-label="Site" value={f.site} onChange={(e) => onChange({ ...f, site: e.target.value })}>
          <option value="">All sites</option>
          {sites.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      )}
      <select
        aria-label="Role"
        value={f.role}
        onChange={(e) => onChange({ ...f, role: e.target.value as Role | '' })}
      >
        <option value="">All roles</option>
        {(Object.keys(ROLE_LABELS) as Role[]).map((r) => (
          <option key={r} value={r}>
            {ROLE_LABELS[r]}
          </option>
        ))}
      </select>
      <select
        aria-label="Status"
        value={f.enabled}
        onChange={(e) => onChange({ ...f, enabled: e.target.value as UserFilter['enabled'] })}
      >
        <option value="">Enabled and disabled</option>
        <option value="true">Enabled</option>
        <option value="false">Disabled</option>
      </select>
    </div>
  );
}

/** People: the list (search, site, role, status), a person's editor under their row, a new person. */
export function UsersTab({ sites }: { sites: SiteDto[] }) {
  const [filter, setFilter] = useState<UserFilter>(NO_FILTER);
  // The search box asks the server once typing pauses.
  const [asked, setAsked] = useState<UserFilter>(NO_FILTER);
  useEffect(() => {
    const t = setTimeout(() => setAsked(filter), filter.q === asked.q ? 0 : 250);
    return () => clearTimeout(t);
  }, [filter, asked.q]);
  const [state, reload] = useLoader(
    useCallback((signal: AbortSignal) => listPeople(asked, signal), [asked]),
    `people${userQuery(asked)}`,
  );
  const [open, setOpen] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [notice, setNotice] = useState('');
  const [people, setPeople] = useState<AdminUserDto[] | null>(null);
  useEffect(() => {
    if (state.status === 'ready') setPeople(state.data);
  }, [state]);

  const changed = (p: AdminUserDto) => setPeople((list) => (list ?? []).map((x) => (x.id === p.id ? p : x)));

  let table;
  if (!people && state.status === 'loading') table = <Spinner label="Loading people…" />;
  else if (state.status === 'down') table = <ServerDown onRetry={reload} />;
  else if (state.status === 'error') table = <Failure message={state.message} onRetry={reload} />;
  else if (people && people.length === 0) table = <p className="muted">Nobody matches these filters.</p>;
  else if (people)
    table = (
      <table className="cases people" data-testid="people">
        <thead>
          <tr>
            <th>Name</th>
            <th>User name</th>
            <th>Role</th>
            <th>Site</th>
            <th>Subspecialties</th>
            <th className="num">Capacity</th>
            <th>Leave</th>
            <th>
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {people.map((p) => (
            <Fragment key={p.id}>
              <tr data-person={p.name} className={p.disabled ? 'disabled-row' : undefined}>
                <td>
                  <span className="person">{p.displayName}</span>
                  {p.disabled && <span className="badge disabled">Disabled</span>}
                </td>
                <td className="mono small">{p.name}</td>
                <td className="nowrap">{ROLE_LABELS[p.role]}</td>
                <td className="nowrap">{p.siteName}</td>
                <td className="small">
                  {hasCaseload(p.role) ? p.subspecialties.map(subspecialtyLabel).join(', ') || '–' : '–'}
                </td>
                <td className="num">{p.weeklyCapacity ?? '–'}</td>
                <td>
                  <LeaveSummary leave={p.leave} onLeaveToday={p.onLeaveToday} />
                </td>
                <td className="nowrap">
                  <button
                    type="button"
                    className="btn small"
                    aria-expanded={open === p.id}
                    onClick={() => setOpen(open === p.id ? null : p.id)}
                  >
                    {open === p.id ? 'Close' : 'Manage'}
                  </button>
                </td>
              </tr>
              {open === p.id && (
                <tr className="editor-row">
                  <td colSpan={8}>
                    <PersonEditor person={p} sites={sites} onChanged={changed} />
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
        </tbody>
      </table>
    );

  return (
    <section aria-label="People">
      <div className="tab-tools">
        <Filters f={filter} sites={sites} onChange={setFilter} />
        {!adding && (
          <button type="button" className="btn primary" onClick={() => setAdding(true)}>
            Add a person
          </button>
        )}
      </div>
      {adding && (
        <NewPersonForm
          sites={sites}
          onCancel={() => setAdding(false)}
          onCreated={(p) => {
            setAdding(false);
            setNotice(`${p.displayName} can now sign in as ${p.name}.`);
            setOpen(p.id);
            reload();
          }}
        />
      )}
      {notice && (
        <div className="notice" role="status">
          <span>{notice}</span>
          <button type="button" className="btn small" onClick={() => setNotice('')}>
            Dismiss
          </button>
        </div>
      )}
      {table}
    </section>
  );
}
