import { useCallback, useEffect, useState } from 'react';
import type { AnnotationClass } from '../../../protocol/review.ts';
import { listAnnotationClasses } from '../api.ts';
import { firstViewOr } from '../viewer/annotation-early.ts';
import { ANNOTATION_CLASSES } from './constants.ts';

export interface Palette {
  classes: readonly AnnotationClass[];
  /** From the server (an administrator's), or the built-in default when it could not be read. */
  source: 'server' | 'default';
  /** After an administrator saved a new one. */
  set: (classes: readonly AnnotationClass[]) => void;
}

/** The annotation classes on offer: the server's palette, else the built-in one. */
export function usePalette(): Palette {
  const [state, setState] = useState<{ classes: readonly AnnotationClass[]; source: 'server' | 'default' }>({
    classes: ANNOTATION_CLASSES,
    source: 'default',
  });
  useEffect(() => {
    const ac = new AbortController();
    // Read once the slide's first view is loaded, not among its tiles.
    void firstViewOr()
      .then(() => listAnnotationClasses(ac.signal))
      .then(
        (classes) => {
          if (Array.isArray(classes) && classes.length > 0) setState({ classes, source: 'server' });
        },
        () => {
          // Not offered by this server (or not reachable now): the built-in classes serve.
        },
      );
    return () => ac.abort();
  }, []);
  const set = useCallback(
    (classes: readonly AnnotationClass[]) => setState({ classes, source: 'server' }),
    [],
  );
  return { ...state, set };
}
