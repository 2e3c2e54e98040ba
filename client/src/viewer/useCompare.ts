import { useCallback, useEffect, useMemo, useRef, useState, type RefObject } from 'react';
import type { SlideDto } from '../../../protocol/index.ts';
import { getSlide, isNotFound, listSlides, NetworkError } from '../api.ts';
import type { Mpp } from './geometry.ts';
import type { OsdController } from './osd.ts';
import { anchorBetween, followView, reverseAnchor, syncFrames, type SyncAnchor } from './sync.ts';
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

/**
 * Side-by-side state: the second slide, the list to pick it from, and pan/zoom/rotation sync between
 * the two viewers. A leader's requested view is sent to the follower at once, so both animate
 * together; a flag keeps the follower's own events from echoing back.
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
  const anchor = useRef<SyncAnchor | null>(null);
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
    listSlides().then(
      (list) => setChoices(list.filter((s) => s.id !== primarySlide.id)),
      () => setChoices([]),
    );
  }, [primarySlide.id]);

  const other = compare.status === 'ready' ? compare.slide : null;
  const frames = useMemo(
    () => syncFrames(mppOf(primarySlide), other ? mppOf(other) : null),
    [primarySlide, other],
  );

  const send = useCallback(
    (from: 'a' | 'b', v: ViewState) => {
      const a = anchor.current;
      if (!syncOn || applying.current || !a) return;
      const follower = from === 'a' ? secondary.current : primary.current;
      if (!follower?.isOpen) return;
      const next =
        from === 'a'
          ? followView(v, frames.a, frames.b, a)
          : followView(v, frames.b, frames.a, reverseAnchor(a));
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
    anchor.current = { ...anchorBetween(va, frames.a, b.view(false), frames.b), rotation: 0 };
    send('a', va);
  }, [frames, primary, send]);

  const onSecondaryOpen = useCallback(() => {
    if (syncOn) anchorNow();
  }, [syncOn, anchorNow]);

  const toggleSync = useCallback(() => {
    setSyncOn((on) => {
      if (on) anchor.current = null;
      return !on;
    });
  }, []);

  // Switching sync on anchors after the state change so `send` sees syncOn = true.
  useEffect(() => {
    if (syncOn) anchorNow();
  }, [syncOn, anchorNow]);

  const close = useCallback(() => {
    setCompareId(null);
    anchor.current = null;
  }, []);

  return {
    compareId,
    compare,
    choices,
    loadChoices,
    open: setCompareId,
    close,
    syncOn,
    toggleSync,
    physical: frames.physical,
    secondary,
    onPrimaryTarget: (v: ViewState) => send('a', v),
    onSecondaryTarget: (v: ViewState) => send('b', v),
    onSecondaryOpen,
  };
}
