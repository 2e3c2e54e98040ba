import { ApiError, NetworkError } from '../api.ts';

/** What an administrator runs on the server to make the first account (see the README). */
export const SETUP_COMMAND = 'npx tessera user add --name NAME --role admin --site SITE --password-stdin';

export const LOGIN_PATH = '/login';

/**
 * Where to go after signing in: the `next` parameter when it is a path on this server, else the
 * library. Anything that could leave the origin (`//host`, `/\host`, `https:`) is refused.
 */
export function safeNext(search: string): string {
  const next = new URLSearchParams(search).get('next');
  if (next === null || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  // Browsers drop tabs and newlines from URLs: "/\n/host" would become "//host".
  for (let i = 0; i < next.length; i++) if (next.charCodeAt(i) < 0x20) return '/';
  const path = next.split(/[?#]/, 1)[0]!;
  if (path === LOGIN_PATH || path === `${LOGIN_PATH}/`) return '/';
  return next;
}

/** The login page, remembering where the user was (`pathname + search`); the library needs no note. */
export function loginPath(current: string): string {
  const path = current.split(/[?#]/, 1)[0]!;
  if (current === '/' || current === '' || path === LOGIN_PATH) return LOGIN_PATH;
  return `${LOGIN_PATH}?next=${encodeURIComponent(current)}`;
}

/** A failed sign-in, in words for the person at the keyboard. */
export function loginErrorMessage(e: unknown): string {
  if (e instanceof NetworkError)
    return 'Cannot reach the Tessera server. It may be restarting or the network may be down; try again in a moment.';
  if (e instanceof ApiError) {
    if (e.status === 401) return 'Wrong user name or password.';
    if (e.status === 429)
      return 'Too many sign-in attempts from this computer. Wait 15 minutes, then try again.';
    if (e.status === 400) return 'Enter a user name and a password.';
    if (e.status === 403) return 'This account may not sign in. Ask an administrator.';
    return `Sign-in failed: ${e.message}`;
  }
  return `Sign-in failed: ${e instanceof Error ? e.message : String(e)}`;
}
