import { createContext, useContext, useSyncExternalStore } from 'react';
import type { MeDto } from '../../../protocol/index.ts';
import { ApiError, getMe, logout, setUnauthenticatedHandler } from '../api.ts';
import { navigate } from '../ui/router.tsx';
import { LOGIN_PATH, loginPath } from './login.ts';

export type Session =
  | { status: 'loading' }
  | { status: 'signed-in'; me: MeDto }
  | { status: 'signed-out' }
  /** /api/auth/me did not answer: whether anyone is signed in is unknown. */
  | { status: 'down' };

let session: Session = { status: 'loading' };
const listeners = new Set<() => void>();

function set(s: Session): void {
  session = s;
  for (const l of listeners) l();
}

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useSession(): Session {
  return useSyncExternalStore(subscribe, () => session);
}

/** Ask the server who is signed in (at start, and on Retry after the server was down). */
export function refreshSession(): void {
  set({ status: 'loading' });
  getMe().then(
    (me) => set({ status: 'signed-in', me }),
    (e: unknown) =>
      set(e instanceof ApiError && e.status === 401 ? { status: 'signed-out' } : { status: 'down' }),
  );
}

export function signedIn(me: MeDto): void {
  set({ status: 'signed-in', me });
}

/**
 * End the session, then load the login page afresh: a full page load drops everything the previous
 * user's pages held in memory (slide lists, uploads, shares).
 */
export async function signOut(): Promise<void> {
  try {
    await logout();
  } catch {
    // Server down or session already gone: the cookie is httpOnly, so the page cannot clear it,
    // but the login page is still where the user wanted to go.
  }
  window.location.assign(LOGIN_PATH);
}

/** Any API call answering 401 ends the session in the page too: show the login page, remember where we were. */
setUnauthenticatedHandler(() => {
  if (window.location.pathname === LOGIN_PATH) return;
  set({ status: 'signed-out' });
  navigate(loginPath(window.location.pathname + window.location.search), { replace: true });
});

/** The signed-in user, for pages rendered only while someone is. */
export const MeContext = createContext<MeDto | null>(null);

export function useMe(): MeDto {
  const me = useContext(MeContext);
  if (!me) throw new Error('useMe outside a signed-in page');
  return me;
}
