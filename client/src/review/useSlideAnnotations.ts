import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { AnnotationDto } from '../../../protocol/review.ts';
import {
  commentOnAnnotation,
  createAnnotation,
  deleteAnnotation,
  listAnnotations,
  updateAnnotation,
} from '../api.ts';
import { SlideAnnotations, type AnnotationApi, type Me } from './slide-annotations.ts';
import { afterFirstView, endEarly, takeEarlyReading } from '../viewer/annotation-early.ts';

const REST: AnnotationApi = {
  create: createAnnotation,
  update: (slideId, id, patch) => updateAnnotation(slideId, id, patch),
  remove: deleteAnnotation,
  comment: commentOnAnnotation,
};

export interface SlideAnnotationsApi {
  store: SlideAnnotations;
  annotations: readonly AnnotationDto[];
  /** The last refusal, shown for a few seconds. */
  notice: string | null;
  /** Read the list again (after an import, or when a session ends). */
  reload: () => void;
}

/**
 * The slide's annotations outside a session, read once and kept through the REST API. While
 * `paused` (a session is open, which carries the same set live) nothing is read.
 */
export function useSlideAnnotations(
  slideId: string,
  me: Me,
  paused: boolean,
  /** Seen through a share: every change is refused as view only. */
  shared: boolean,
): SlideAnnotationsApi {
  const [notice, setNotice] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const flash = useCallback((m: string) => {
    setNotice(m);
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => setNotice(null), 6000);
  }, []);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  const store = useMemo(
    () => new SlideAnnotations(slideId, REST, me, flash, undefined, shared),
    // One store per slide and user (the name only labels new shapes until the server answers).
    [slideId, me.id, shared],
  );
  const [annotations, setAnnotations] = useState<readonly AnnotationDto[]>([]);
  useEffect(() => {
    setAnnotations(store.annotations);
    return store.subscribe(() => setAnnotations(store.annotations));
  }, [store]);

  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (paused) return;
    const ac = new AbortController();
    // While a worker draws the slide's annotations (annotation-early.ts), the list is read once
    // the first view and that drawing are on screen and the view is at rest.
    const read = takeEarlyReading(slideId)
      ? afterFirstView().then(() => listAnnotations(slideId, ac.signal))
      : listAnnotations(slideId, ac.signal);
    read.then(
      (r) => {
        if (ac.signal.aborted) return;
        store.reset(r.annotations);
        endEarly(slideId);
      },
      (e: unknown) => {
        if (!ac.signal.aborted)
          flash(`annotations not loaded: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
    return () => ac.abort();
  }, [slideId, store, paused, attempt, flash]);

  const reload = useCallback(() => setAttempt((n) => n + 1), []);
  return { store, annotations, notice, reload };
}
