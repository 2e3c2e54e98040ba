import { type FormEvent, useState } from 'react';
import type { SiteDto } from '../../../protocol/index.ts';
import { useMe } from '../auth/session.ts';
import { errorMessage } from '../cases/useLoader.ts';
import { createSite, renameSite } from './api.ts';
import { FormError } from './fields.tsx';

function SiteRow({ site, canEdit, onChanged }: { site: SiteDto; canEdit: boolean; onChanged: () => void }) {
  const [name, setName] = useState(site.name);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await renameSite(site.id, name);
      onChanged();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-site={site.id}>
      <td className="mono small">{site.id}</td>
      <td>
        {canEdit ? (
          <form className="inline-form" onSubmit={(e) => void save(e)}>
            <input aria-label={`Name of ${site.id}`} value={name} onChange={(e) => setName(e.target.value)} />
            <button type="submit" className="btn small" disabled={busy || name === site.name}>
              Rename
            </button>
            <FormError message={error} />
          </form>
        ) : (
          site.name
        )}
      </td>
      <td className="small muted">{site.createdAt.slice(0, 10)}</td>
    </tr>
  );
}

/** Sites: every site for administrators (add, rename); a lab manager sees their own. */
export function SitesTab({ sites, onChanged }: { sites: SiteDto[]; onChanged: () => void }) {
  const { user } = useMe();
  const admin = user.role === 'admin';
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await createSite({ id, name });
      setId('');
      setName('');
      onChanged();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-label="Sites">
      {!admin && <p className="muted">Only administrators add or rename sites.</p>}
      <table className="cases sites" data-testid="sites">
        <thead>
          <tr>
            <th>Id</th>
            <th>Name</th>
            <th>Added</th>
          </tr>
        </thead>
        <tbody>
          {sites.map((s) => (
            <SiteRow key={`${s.id}:${s.name}`} site={s} canEdit={admin} onChanged={onChanged} />
          ))}
        </tbody>
      </table>
      {admin && (
        <form className="panel admin-form" onSubmit={(e) => void add(e)} aria-label="Add a site">
          <h3>Add a site</h3>
          <div className="inline-form">
            <label>
              Id
              <input value={id} onChange={(e) => setId(e.target.value)} placeholder="east-clinic" />
            </label>
            <label>
              Name
              <input value={name} onChange={(e) => setName(e.target.value)} placeholder="East Clinic" />
            </label>
            <button type="submit" className="btn primary small" disabled={busy}>
              Add site
            </button>
          </div>
          <p className="muted small">
            The id is for links and files: lower-case letters, digits and dashes; it cannot change.
          </p>
          <FormError message={error} />
        </form>
      )}
    </section>
  );
}
