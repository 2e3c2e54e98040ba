import './auth.css';
import { useEffect, useId, useRef, useState } from 'react';
import { initials, roleLabel } from './roles.ts';
import { signOut, useMe } from './session.ts';

/**
 * Who is signed in, at the right of every page header, with "Sign out". `compact` (the crowded
 * viewer bar) shows only the initials; the panel always says name, role and site.
 */
export function UserMenu({ compact = false }: { compact?: boolean }) {
  const { user } = useMe();
  const [open, setOpen] = useState(false);
  const [leaving, setLeaving] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const panelId = useId();

  useEffect(() => {
    if (!open) return;
    const onDown = (e: PointerEvent) => {
      if (!root.current?.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        setOpen(false);
        button.current?.focus();
      }
    };
    window.addEventListener('pointerdown', onDown);
    window.addEventListener('keydown', onKey, true);
    return () => {
      window.removeEventListener('pointerdown', onDown);
      window.removeEventListener('keydown', onKey, true);
    };
  }, [open]);

  const role = roleLabel(user.role);
  return (
    <div className={`user-menu${compact ? ' compact' : ''}`} ref={root}>
      <button
        ref={button}
        type="button"
        className="user-button"
        aria-haspopup="true"
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen((o) => !o)}
        title={`${user.displayName} · ${role} · ${user.siteName}`}
        aria-label={`${user.displayName}, ${role}, ${user.siteName}`}
        data-testid="user-menu"
      >
        <span className="avatar" aria-hidden="true">
          {initials(user.displayName)}
        </span>
        <span className="user-button-text">
          <span className="user-button-name">{user.displayName}</span>
          <span className="user-button-site">{user.siteName}</span>
        </span>
        <span className="caret" aria-hidden="true">
          ▾
        </span>
      </button>
      {open && (
        <div className="user-panel" id={panelId} data-testid="user-panel">
          <div className="user-panel-who">
            <div className="user-panel-name">{user.displayName}</div>
            <div className="user-panel-login mono">{user.name}</div>
          </div>
          <dl className="user-panel-facts">
            <div>
              <dt>Role</dt>
              <dd data-testid="user-role">{role}</dd>
            </div>
            <div>
              <dt>Site</dt>
              <dd data-testid="user-site">{user.siteName}</dd>
            </div>
          </dl>
          <button
            type="button"
            className="btn user-signout"
            disabled={leaving}
            onClick={() => {
              setLeaving(true);
              void signOut();
            }}
          >
            {leaving ? 'Signing out…' : 'Sign out'}
          </button>
        </div>
      )}
    </div>
  );
}
