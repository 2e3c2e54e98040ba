import { useCallback, useEffect, useRef, useState } from 'react';
import type { SlideDto } from '../../../protocol/index.ts';
import { ApiError, listSlides, NetworkError, type SlideListParams } from '../api.ts';

export const PAGE_SIZE = 50;

export interface SlidesState {
  status: 'loading' | 'ready' | 'down' | 'error';
  /** Every page loaded so far, in order. */
  slides: SlideDto[];
  /** Where the next page starts; null when the last one is loaded. */
  nextCursor: string | null;
  /** A further page is on its way. */
  loadingMore: boolean;
  message?: string;
}

const failed = (e: unknown): Pick<SlidesState, 'status' | 'message'> =>
  e instanceof NetworkError
    ? { status: 'down' }
    : { status: 'error', message: e instanceof Error ? e.message : String(e) };

/**
 * The library a page at a time: the first page for these filters, then "load more" appends the
 * next one (the server's cursor: nothing added meanwhile is listed twice or skipped). New filters
 * start over; a reload asks for the first page again and keeps the old list until it lands.
 */
export function useSlides(
  filters: SlideListParams,
): [SlidesState, { reload: () => void; loadMore: () => void }] {
  const key = JSON.stringify(filters);
  const [state, setState] = useState<SlidesState>({
    status: 'loading',
    slides: [],
    nextCursor: null,
    loadingMore: false,
  });
  const [generation, setGeneration] = useState(0);
  const more = useRef<AbortController | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    more.current?.abort();
    setState((s) => ({ ...s, status: s.status === 'ready' ? 'ready' : 'loading', loadingMore: false }));
    listSlides({ ...(JSON.parse(key) as SlideListParams), limit: PAGE_SIZE }, ac.signal).then(
      (page) =>
        setState({ status: 'ready', slides: page.items, nextCursor: page.nextCursor, loadingMore: false }),
      (e: unknown) => {
        if (ac.signal.aborted) return;
        setState((s) => ({ ...s, ...failed(e), loadingMore: false }));
      },
    );
    return () => ac.abort();
  }, [key, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  const cursor = state.nextCursor;
  const loadMore = useCallback(() => {
    if (!cursor || more.current) return;
    const ac = new AbortController();
    more.current = ac;
    setState((s) => ({ ...s, loadingMore: true }));
    listSlides({ ...(JSON.parse(key) as SlideListParams), limit: PAGE_SIZE, cursor }, ac.signal)
      .then(
        (page) =>
          setState((s) => {
            const have = new Set(s.slides.map((x) => x.id));
            return {
              status: 'ready',
              slides: [...s.slides, ...page.items.filter((x) => !have.has(x.id))],
              nextCursor: page.nextCursor,
              loadingMore: false,
            };
          }),
        (e: unknown) => {
          if (ac.signal.aborted) return;
          // A cursor the server no longer takes (after an upgrade, say): start over.
          if (e instanceof ApiError && e.code === 'INVALID_CURSOR') setGeneration((g) => g + 1);
          else setState((s) => ({ ...s, ...failed(e), loadingMore: false }));
        },
      )
      .finally(() => {
        if (more.current === ac) more.current = null;
      });
  }, [cursor, key]);

  return [state, { reload, loadMore }];
}
