import { useCallback, useEffect, useMemo, useRef, useState, type RefObject } from 'react';
import type { SlideDto } from '../../../protocol/index.ts';
import { getSlide, isNotFound, listSlides, NetworkError } from '../api.ts';
import {
  compareFrames,
  followView,
  invertLink,
  linkBetween,
  SAME_PLACE,
  toShared,
  type CompareLink,
} from './compareMap.ts';
import type { Mpp } from './geometry.ts';
import type { OsdController } from './osd.ts';
import type { ViewState } from './viewport.ts';

export type CompareSlide =
  | { status: 'none' }
  | { status: 'loading'; id: string }
  | { status: 'ready'; slide: SlideDto }
  | { status: 'failed'; id: string; message: string };

export function mppOf(s: SlideDto): Mpp | null {
  if (s.mppX === null) return null;
  return { x: s.mppX, y: s.mppY ?? s.mppX };
}

/** How long the second slide waits for the first to open before it takes its place. */
const PRIMARY_WAIT_MS = 10_000;

/**
 * Side-by-side state: the second slide, the list to pick it from, and pan/zoom/rotation sync between
 * the two viewers (compareMap.ts: in µm, or in image fractions when a slide lacks µm/px). The second
 * slide opens at the first one's physical place and magnification. A leader's requested view is sent
 * to the follower at once, so both animate together; a flag keeps the follower's own events from
 * echoing back.
 */
export function useCompare(
  primarySlide: SlideDto,
  primary: RefObject<OsdController | null>,
  initialId: string | null,
) {
  const [compareId, setCompareId] = useState<string | null>(initialId);
  const [compare, setCompare] = useState<CompareSlide>({ status: 'none' });
  const [choices, setChoices] = useState<SlideDto[] | null>(null);
  const [syncOn, setSyncOn] = useState(true);
  const secondary = useRef<OsdController | null>(null);
  const link = useRef<CompareLink | null>(null);
  const applying = useRef(false);

  useEffect(() => {
    if (!compareId) {
      setCompare({ status: 'none' });
      return;
    }
    const ac = new AbortController();
    setCompare({ status: 'loading', id: compareId });
    getSlide(compareId, ac.signal).then(
      (slide) => setCompare({ status: 'ready', slide }),
      (e: unknown) => {
        if (ac.signal.aborted) return;
        const message = isNotFound(e)
          ? 'Slide not found'
          : e instanceof NetworkError
            ? e.message
            : e instanceof Error
              ? e.message
              : String(e);
        setCompare({ status: 'failed', id: compareId, message });
      },
    );
    return () => ac.abort();
  }, [compareId]);

  const loadChoices = useCallback(() => {
    // The newest slides (one page): the library's search finds any other.
    listSlides({ limit: 200 }).then(
      (page) => setChoices(page.items.filter((s) => s.id !== primarySlide.id)),
      () => setChoices([]),
    );
  }, [primarySlide.id]);

  const other = compare.status === 'ready' ? compare.slide : null;
  const frames = useMemo(() => compareFrames(primarySlide, other ?? primarySlide), [primarySlide, other]);

  const send = useCallback(
    (from: 'a' | 'b', v: ViewState) => {
      if (!syncOn || applying.current) return;
      const follower = from === 'a' ? secondary.current : primary.current;
      if (!follower?.isOpen) return;
      // Sync on and nothing lined up by hand yet: the same physical place.
      const l = (link.current ??= SAME_PLACE);
      const next =
        from === 'a'
          ? followView(v, frames.a, frames.b, l)
          : followView(v, frames.b, frames.a, invertLink(l));
      applying.current = true;
      try {
        follower.setView(next);
      } finally {
        applying.current = false;
      }
    },
    [syncOn, frames, primary],
  );

  /** Keep both centres where they are, adopt the primary's scale and rotation on the second viewer. */
  const anchorNow = useCallback(() => {
    const a = primary.current;
    const b = secondary.current;
    if (!a?.isOpen || !b?.isOpen) return;
    const va = a.view(false);
    link.current = linkBetween(toShared(va, frames.a), toShared(b.view(false), frames.b), false);
    send('a', va);
  }, [frames, primary, send]);

  // The second slide opens where the first one is (in µm), at its magnification.
  const onSecondaryOpen = useCallback(() => {
    if (!syncOn) return;
    link.current = SAME_PLACE;
    const until = performance.now() + PRIMARY_WAIT_MS;
    const place = (): void => {
      const a = primary.current;
      if (a?.isOpen) send('a', a.view(false));
      else if (secondary.current?.isOpen && performance.now() < until) requestAnimationFrame(place);
    };
    place();
  }, [syncOn, primary, send]);

  const wasOn = useRef(syncOn);
  // Switching sync back on (not the first render) keeps the centres as they are now, after the state
  // change so `send` sees syncOn = true.
  useEffect(() => {
    if (syncOn && !wasOn.current) anchorNow();
    wasOn.current = syncOn;
  }, [syncOn, anchorNow]);

  const toggleSync = useCallback(() => {
    setSyncOn((on) => {
      if (on) link.current = null;
      return !on;
    });
  }, []);

  const close = useCallback(() => {
    setCompareId(null);
    link.current = null;
  }, []);

  /** Names of the compared slides without µm/px (sync then follows image fractions). */
  const uncalibrated = useMemo(
    () =>
      other ? [primarySlide, other].filter((s) => s.mppX === null && s.mppY === null).map((s) => s.name) : [],
    [primarySlide, other],
  );

  return {
    compareId,
    compare,
    choices,
    loadChoices,
    open: setCompareId,
    close,
    syncOn,
    toggleSync,
    physical: frames.unit === 'um',
    uncalibrated,
    secondary,
    onPrimaryTarget: (v: ViewState) => send('a', v),
    onSecondaryTarget: (v: ViewState) => send('b', v),
    onSecondaryOpen,
  };
}
