import { useCallback, useEffect, useState } from 'react';
import type { SlideDto } from '../../../protocol/index.ts';
import { listSlides, NetworkError } from '../api.ts';

export type SlidesState =
  | { status: 'loading'; slides: SlideDto[] }
  | { status: 'ready'; slides: SlideDto[] }
  | { status: 'down'; slides: SlideDto[] }
  | { status: 'error'; slides: SlideDto[]; message: string };

/** The slide list, refetched on demand; a refresh keeps showing the old list until the new one lands. */
export function useSlides(): [SlidesState, () => void] {
  const [state, setState] = useState<SlidesState>({ status: 'loading', slides: [] });
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const ac = new AbortController();
    listSlides(ac.signal).then(
      (slides) => setState({ status: 'ready', slides }),
      (e: unknown) => {
        if (ac.signal.aborted) return;
        setState((s) =>
          e instanceof NetworkError
            ? { status: 'down', slides: s.slides }
            : { status: 'error', slides: s.slides, message: e instanceof Error ? e.message : String(e) },
        );
      },
    );
    return () => ac.abort();
  }, [generation]);

  const reload = useCallback(() => {
    setState((s) => (s.status === 'ready' ? s : { status: 'loading', slides: s.slides }));
    setGeneration((g) => g + 1);
  }, []);
  return [state, reload];
}
