import './auth.css';
import { Fragment, useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, getAuthState, login } from '../api.ts';
import { navigate } from '../ui/router.tsx';
import { loginErrorMessage, safeNext, SETUP_COMMAND } from './login.ts';
import { signedIn } from './session.ts';

type Setup = 'unknown' | 'required' | 'done' | 'unreachable';

/** `/login`, and what every page turns into when the session ends. */
export function LoginPage() {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [setup, setSetup] = useState<Setup>('unknown');
  const [setupCommand, setSetupCommand] = useState(SETUP_COMMAND);
  const nameInput = useRef<HTMLInputElement>(null);
  const passwordInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = 'Sign in · Tessera';
    nameInput.current?.focus();
    const ac = new AbortController();
    getAuthState(ac.signal).then(
      (s) => {
        setSetup(s.setupRequired ? 'required' : 'done');
        if (s.setupCommand) setSetupCommand(s.setupCommand);
      },
      () => !ac.signal.aborted && setSetup('unreachable'),
    );
    return () => ac.abort();
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    if (!name.trim() || !password) {
      setError('Enter your user name and password.');
      (name.trim() ? passwordInput : nameInput).current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    login({ name: name.trim(), password }).then(
      (me) => {
        signedIn(me);
        navigate(safeNext(window.location.search), { replace: true });
      },
      (err: unknown) => {
        setBusy(false);
        setError(loginErrorMessage(err));
        // A wrong password is typed again; one the server never judged (down, rate limited) is kept.
        if (err instanceof ApiError && err.status === 401) setPassword('');
        passwordInput.current?.focus();
      },
    );
  };

  return (
    <div className="login-page">
      <main className="login-card">
        <div className="login-brand">
          <span className="brand-mark" aria-hidden="true" />
          <span className="brand-name">Tessera</span>
        </div>
        <h1 className="login-title">Sign in</h1>
        <p className="muted login-sub">Whole-slide images for your site and the slides shared with you.</p>
        {setup === 'required' && (
          <div className="login-setup" role="note" data-testid="setup-required">
            <strong>No accounts yet.</strong> An administrator makes the first one on the server:
            <pre>
              <code>
                {/* Lines break between options only, never inside "--password-stdin". */}
                {setupCommand.split(/ (?=--)/).map((part, i) => (
                  <Fragment key={part}>
                    {i > 0 && ' '}
                    <span className="nobreak">{part}</span>
                  </Fragment>
                ))}
              </code>
            </pre>
            then types the password (at least 10 characters) and signs in here.
          </div>
        )}
        {setup === 'unreachable' && !error && (
          <div className="login-error" role="alert">
            Cannot reach the Tessera server. It may be restarting or the network may be down.
          </div>
        )}
        {error && (
          <div className="login-error" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        <form className="login-form" onSubmit={submit} noValidate>
          <label className="field">
            <span className="field-label">User name</span>
            <input
              ref={nameInput}
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              value={name}
              onChange={(e) => setName(e.target.value)}
              readOnly={busy}
            />
          </label>
          <label className="field">
            <span className="field-label">Password</span>
            <input
              ref={passwordInput}
              name="password"
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              readOnly={busy}
            />
          </label>
          <button type="submit" className="btn primary login-submit" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
        <p className="muted small login-foot">
          Forgot your password or need an account? Ask your site&rsquo;s Tessera administrator.
        </p>
      </main>
    </div>
  );
}
