import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, NetworkError } from '../api.ts';

export type Loaded<T> =
  | { status: 'loading'; data: T | null }
  | { status: 'ready'; data: T }
  | { status: 'down'; data: T | null }
  | { status: 'error'; data: T | null; message: string; forbidden: boolean };

/**
 * Load `fetcher`'s answer, again whenever `key` changes or `reload()` is called. The previous data
 * stays while a reload runs, so a refresh does not blank the page.
 */
export function useLoader<T>(
  fetcher: (signal: AbortSignal) => Promise<T>,
  key: string,
): [Loaded<T>, () => void] {
  const [state, setState] = useState<Loaded<T>>({ status: 'loading', data: null });
  const [tick, setTick] = useState(0);
  const fetchRef = useRef(fetcher);
  fetchRef.current = fetcher;

  useEffect(() => {
    const ac = new AbortController();
    setState((s) => ({ status: 'loading', data: s.data }));
    fetchRef.current(ac.signal).then(
      (data) => {
        if (!ac.signal.aborted) setState({ status: 'ready', data });
      },
      (e: unknown) => {
        if (ac.signal.aborted) return;
        if (e instanceof NetworkError) setState((s) => ({ status: 'down', data: s.data }));
        else
          setState((s) => ({
            status: 'error',
            data: s.data,
            message: e instanceof Error ? e.message : String(e),
            forbidden: e instanceof ApiError && e.status === 403,
          }));
      },
    );
    return () => ac.abort();
  }, [key, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return [state, reload];
}

export function errorMessage(e: unknown): string {
  if (e instanceof NetworkError) return 'Cannot reach the Tessera server.';
  return e instanceof Error ? e.message : String(e);
}
