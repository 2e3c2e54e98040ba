import { useEffect, useState } from 'react';
import type { SlideConversion, SlideDto } from '../../../protocol/index.ts';
import { getJson } from '../api.ts';

/** How often a converting slide is asked about (ms). */
const POLL_MS = 1500;

export interface ConversionView {
  /** 'converting', 'source' (conversion failed, served from the source) or 'failed'; null once stored. */
  state: SlideConversion['state'] | null;
  percent: number;
  reason: string | null;
  /** The stored pyramid was published while this page was open: draw from it. */
  stored: boolean;
}

/**
 * A slide's conversion as it goes: asked for every 1.5 s while the slide converts, until it is
 * stored (then `stored`) or has failed.
 */
export function useConversion(slide: SlideDto): ConversionView {
  const [c, setC] = useState<ConversionView>(() => ({
    state: slide.conversion?.state ?? null,
    percent: slide.conversion?.percent ?? 100,
    reason: slide.conversion?.reason ?? null,
    stored: false,
  }));
  const converting = c.state === 'converting';
  useEffect(() => {
    if (!converting) return;
    const ac = new AbortController();
    const timer = setInterval(() => {
      getJson<SlideDto>(`/api/slides/${slide.id}`, ac.signal).then(
        (s) => {
          const next = s.conversion;
          if (!next) setC({ state: null, percent: 100, reason: null, stored: true });
          else setC((old) => ({ ...old, state: next.state, percent: next.percent, reason: next.reason }));
        },
        () => undefined,
      );
    }, POLL_MS);
    return () => {
      clearInterval(timer);
      ac.abort();
    };
  }, [slide.id, converting]);
  return c;
}
