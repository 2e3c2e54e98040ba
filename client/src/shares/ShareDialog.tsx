import './shares.css';
import {
  useCallback,
  useEffect,
  useId,
  useMemo,
  useRef,
  useState,
  type FormEvent,
  type KeyboardEvent,
} from 'react';
import type { ShareDto, SiteDto, SlideDto, UserDto } from '../../../protocol/index.ts';
import { createShare, listShares, listSites, listUsers, NetworkError, revokeShare } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { formatDate } from '../ui/format.ts';
import {
  defaultDeidentified,
  expiryBounds,
  granteeSite,
  isoDate,
  relativeDays,
  shareableSites,
  shareableUsers,
  shareStatus,
  sortShares,
  validateShare,
  type GranteeKind,
  type ShareForm,
  type ShareFormErrors,
} from './shareForm.ts';

function message(e: unknown): string {
  if (e instanceof NetworkError) return 'Cannot reach the Tessera server; try again in a moment.';
  return e instanceof Error ? e.message : String(e);
}

type Loaded<T> = { status: 'loading' } | { status: 'ready'; value: T } | { status: 'error'; message: string };

const STATUS_TEXT = { active: 'Active', expired: 'Expired', revoked: 'Revoked' } as const;

function ShareRow({
  share,
  users,
  now,
  onRevoke,
  busy,
}: {
  share: ShareDto;
  users: UserDto[];
  now: Date;
  onRevoke: () => void;
  busy: boolean;
}) {
  const status = shareStatus(share, now);
  const site =
    share.grantee.kind === 'user' ? users.find((u) => u.id === share.grantee.id)?.siteName : undefined;
  return (
    <tr className={`share-row ${status}`} data-share-id={share.id} data-status={status}>
      <td>
        <div className="grantee-name">{share.grantee.name}</div>
        <div className="muted small">
          {share.grantee.kind === 'site' ? 'Everyone at this site' : site ? `Person · ${site}` : 'Person'}
        </div>
      </td>
      <td className="num">
        <div>{isoDate(new Date(share.expiresAt))}</div>
        <div className="muted small">
          {status === 'active' ? `ends ${relativeDays(share.expiresAt, now)}` : ''}
        </div>
      </td>
      <td>
        {share.deidentified ? (
          <>
            <span className="badge deid">De-identified</span>
            <div className="small mono study-code">{share.studyCode}</div>
          </>
        ) : (
          <span className="badge identified">Identified</span>
        )}
      </td>
      <td>
        <span className={`share-status ${status}`}>{STATUS_TEXT[status]}</span>
        {status === 'revoked' && share.revokedAt && (
          <div className="muted small">{formatDate(share.revokedAt)}</div>
        )}
      </td>
      <td className="share-action">
        {status === 'active' && (
          <button
            type="button"
            className="btn small danger"
            onClick={onRevoke}
            disabled={busy}
            aria-label={`Revoke the share with ${share.grantee.name}`}
          >
            {busy ? 'Revoking…' : 'Revoke'}
          </button>
        )}
      </td>
    </tr>
  );
}

/** Who the slide is shared with, and a form to share it with one more person or site. */
export function ShareDialog({ slide, onClose }: { slide: SlideDto; onClose: () => void }) {
  const me = useMe();
  const titleId = useId();
  const [now] = useState(() => new Date());
  const bounds = useMemo(() => expiryBounds(now), [now]);
  const [shares, setShares] = useState<Loaded<ShareDto[]>>({ status: 'loading' });
  const [people, setPeople] = useState<Loaded<{ users: UserDto[]; sites: SiteDto[] }>>({ status: 'loading' });
  const [revoking, setRevoking] = useState<string | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [form, setForm] = useState<ShareForm>({
    kind: 'user',
    userId: '',
    siteId: '',
    expires: bounds.initial,
    deidentified: true,
    studyCode: '',
  });
  /** Once the user ticks or unticks the box themselves, a new grantee no longer resets it. */
  const [deidTouched, setDeidTouched] = useState(false);
  const [errors, setErrors] = useState<ShareFormErrors>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const closeButton = useRef<HTMLButtonElement>(null);

  const loadShares = useCallback(() => {
    listShares(slide.id).then(
      (v) => setShares({ status: 'ready', value: v }),
      (e: unknown) => setShares({ status: 'error', message: message(e) }),
    );
  }, [slide.id]);

  useEffect(() => {
    closeButton.current?.focus();
    loadShares();
    Promise.all([listUsers(), listSites()]).then(
      ([users, sites]) => setPeople({ status: 'ready', value: { users, sites } }),
      (e: unknown) => setPeople({ status: 'error', message: message(e) }),
    );
  }, [loadShares]);

  const users = people.status === 'ready' ? people.value.users : [];
  const candidates = useMemo(() => shareableUsers(users, me, slide.siteId), [users, me, slide.siteId]);
  const sites = useMemo(
    () => (people.status === 'ready' ? shareableSites(people.value.sites, slide.siteId) : []),
    [people, slide.siteId],
  );
  const ownSiteName =
    people.status === 'ready' ? people.value.sites.find((s) => s.id === slide.siteId)?.name : undefined;

  const update = (patch: Partial<ShareForm>) => {
    setDone(null);
    setServerError(null);
    setForm((f) => {
      const next = { ...f, ...patch };
      if (!deidTouched && ('userId' in patch || 'siteId' in patch || 'kind' in patch))
        next.deidentified = defaultDeidentified(granteeSite(next, users), slide.siteId);
      return next;
    });
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (saving) return;
    const v = validateShare(form, new Date());
    setServerError(null);
    setDone(null);
    if (!v.ok) {
      setErrors(v.errors);
      return;
    }
    setErrors({});
    setSaving(true);
    createShare(slide.id, v.request).then(
      (share) => {
        setSaving(false);
        setDone(
          `Shared with ${share.grantee.name} until ${isoDate(new Date(share.expiresAt))}${share.deidentified ? `, de-identified as ${share.studyCode}` : ''}.`,
        );
        setForm((f) => ({ ...f, userId: '', siteId: '', studyCode: '' }));
        setDeidTouched(false);
        loadShares();
      },
      (err: unknown) => {
        setSaving(false);
        setServerError(message(err));
      },
    );
  };

  const revoke = (s: ShareDto) => {
    setDone(null);
    setRevoking(s.id);
    setListError(null);
    revokeShare(s.id).then(
      () => {
        setRevoking(null);
        loadShares();
      },
      (e: unknown) => {
        setRevoking(null);
        setListError(message(e));
      },
    );
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onClose();
    }
  };

  const list = shares.status === 'ready' ? sortShares(shares.value, now) : [];
  return (
    <div className="modal-backdrop">
      <div
        className="modal share-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        onKeyDown={onKeyDown}
        data-testid="share-dialog"
      >
        <div className="modal-head">
          <h2 id={titleId}>Share “{slide.name}”</h2>
          <button ref={closeButton} type="button" className="icon-btn" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </div>

        <section className="share-section" aria-label="Current shares">
          <h3 className="share-heading">Shared with</h3>
          {shares.status === 'loading' && <p className="muted">Loading shares…</p>}
          {shares.status === 'error' && (
            <p className="error-text" role="alert">
              Could not load the shares: {shares.message}
            </p>
          )}
          {shares.status === 'ready' && list.length === 0 && (
            <p className="muted" data-testid="no-shares">
              Not shared yet: only people at {ownSiteName ?? 'its site'} see this slide.
            </p>
          )}
          {list.length > 0 && (
            <table className="share-list">
              <thead>
                <tr>
                  <th>With</th>
                  <th>Until</th>
                  <th>Shown as</th>
                  <th>Status</th>
                  <th>
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((s) => (
                  <ShareRow
                    key={s.id}
                    share={s}
                    users={users}
                    now={now}
                    busy={revoking === s.id}
                    onRevoke={() => revoke(s)}
                  />
                ))}
              </tbody>
            </table>
          )}
          {listError && (
            <p className="error-text" role="alert">
              Could not revoke: {listError}
            </p>
          )}
        </section>

        <form className="share-form" onSubmit={submit} noValidate aria-label="Add a share">
          <h3 className="share-heading">Share with</h3>
          {people.status === 'error' && (
            <p className="error-text" role="alert">
              Could not load people and sites: {people.message}
            </p>
          )}
          <div className="segmented" role="radiogroup" aria-label="Share with">
            {(['user', 'site'] as GranteeKind[]).map((k) => (
              <label key={k} className={form.kind === k ? 'on' : undefined}>
                <input
                  type="radio"
                  name="grantee-kind"
                  value={k}
                  checked={form.kind === k}
                  onChange={() => update({ kind: k })}
                />
                {k === 'user' ? 'A person' : 'A whole site'}
              </label>
            ))}
          </div>

          <div className="share-grid">
            <label className="sfield grantee-field">
              <span className="sfield-label">{form.kind === 'user' ? 'Person' : 'Site'}</span>
              {form.kind === 'user' ? (
                <select
                  value={form.userId}
                  onChange={(e) => update({ userId: e.target.value })}
                  aria-invalid={errors.grantee ? true : undefined}
                  disabled={people.status !== 'ready'}
                  data-testid="share-user"
                >
                  <option value="">
                    {people.status === 'loading'
                      ? 'Loading…'
                      : candidates.length === 0
                        ? 'Nobody else to share with'
                        : 'Choose a person…'}
                  </option>
                  {candidates.map((u) => (
                    <option key={u.id} value={u.id}>
                      {u.displayName} — {u.siteName}
                    </option>
                  ))}
                </select>
              ) : (
                <select
                  value={form.siteId}
                  onChange={(e) => update({ siteId: e.target.value })}
                  aria-invalid={errors.grantee ? true : undefined}
                  disabled={people.status !== 'ready'}
                  data-testid="share-site"
                >
                  <option value="">
                    {people.status === 'loading'
                      ? 'Loading…'
                      : sites.length === 0
                        ? 'No other sites'
                        : 'Choose a site…'}
                  </option>
                  {sites.map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.name}
                    </option>
                  ))}
                </select>
              )}
              {errors.grantee ? (
                <span className="field-error">{errors.grantee}</span>
              ) : (
                <span className="muted small">
                  People at {ownSiteName ?? 'the slide’s site'} already see it.
                </span>
              )}
            </label>

            <label className="sfield">
              <span className="sfield-label">Until (inclusive)</span>
              <input
                type="date"
                value={form.expires}
                min={bounds.min}
                max={bounds.max}
                required
                onChange={(e) => update({ expires: e.target.value })}
                aria-invalid={errors.expires ? true : undefined}
                data-testid="share-expires"
              />
              {errors.expires ? (
                <span className="field-error">{errors.expires}</span>
              ) : (
                <span className="muted small">At most a year ahead.</span>
              )}
            </label>
          </div>

          <label className="check">
            <input
              type="checkbox"
              checked={form.deidentified}
              onChange={(e) => {
                setDeidTouched(true);
                update({ deidentified: e.target.checked });
              }}
              data-testid="share-deidentified"
            />
            <span>
              <strong>De-identified</strong>
              <span className="muted small check-hint">
                The recipient sees the study code instead of the name, no label or macro image, and no
                identifying scanner metadata.
              </span>
            </span>
          </label>

          {form.deidentified && (
            <label className="sfield study-field">
              <span className="sfield-label">Study code</span>
              <input
                type="text"
                value={form.studyCode}
                maxLength={64}
                placeholder="e.g. STUDY-001"
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => update({ studyCode: e.target.value })}
                aria-invalid={errors.studyCode ? true : undefined}
                data-testid="share-study-code"
              />
              {errors.studyCode ? (
                <span className="field-error">{errors.studyCode}</span>
              ) : (
                <span className="muted small">The name the recipient sees.</span>
              )}
            </label>
          )}

          {serverError && (
            <div className="form-error" role="alert" data-testid="share-error">
              {serverError}
            </div>
          )}
          {done && (
            <div className="form-ok" role="status">
              {done}
            </div>
          )}
          <div className="share-actions">
            <button type="button" className="btn" onClick={onClose}>
              Close
            </button>
            <button type="submit" className="btn primary" disabled={saving || people.status !== 'ready'}>
              {saving ? 'Sharing…' : 'Share'}
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
