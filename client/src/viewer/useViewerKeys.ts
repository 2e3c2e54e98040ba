import { useEffect, useRef, type RefObject } from 'react';
import { actionForKey } from './keys.ts';
import type { OsdController } from './osd.ts';
import type { MeasureApi } from './useMeasure.ts';
import { imageZoomFor, MAGNIFICATIONS, type Power } from './viewport.ts';

interface Args {
  controller: RefObject<OsdController | null>;
  measure: MeasureApi;
  power: Power;
  help: boolean;
  setHelp: (open: boolean) => void;
  onMagnification: (m: number) => void;
  maxImageZoom: number;
  /** A dialog of its own is open (sharing): the viewer leaves the keyboard alone. */
  suspended?: boolean;
}

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
}

/** One window-level key handler for the viewer (OpenSeadragon's own keys are switched off). */
export function useViewerKeys(args: Args): void {
  const latest = useRef(args);
  latest.current = args;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typing(e.target)) return;
      const a = latest.current;
      if (a.suspended) return;
      const action = actionForKey(e);
      if (!action) return;
      const c = a.controller.current;
      if (a.help) {
        if (action.kind === 'help' || action.kind === 'cancel') {
          a.setHelp(false);
          e.preventDefault();
        }
        return;
      }
      // Buttons take Enter themselves; only a polygon in progress claims it.
      if (action.kind === 'finish' && !a.measure.draft) return;
      e.preventDefault();
      switch (action.kind) {
        case 'pan':
          c?.panByFraction(action.dx, action.dy);
          break;
        case 'zoom':
          c?.zoomBy(action.factor);
          break;
        case 'fit':
          c?.fit();
          break;
        case 'magnification': {
          const m = MAGNIFICATIONS[action.index];
          if (
            m !== undefined &&
            a.power.source !== 'none' &&
            imageZoomFor(m, a.power) <= a.maxImageZoom + 1e-9
          )
            a.onMagnification(m);
          break;
        }
        case 'rotate':
          c?.rotateBy(action.degrees);
          break;
        case 'tool':
          a.measure.setTool(action.tool);
          break;
        case 'cancel':
          a.measure.cancel();
          break;
        case 'finish': {
          const t = c?.transform();
          const scale = t ? Math.hypot(t[0], t[1]) : 1;
          a.measure.finishPolygon(4 / scale);
          break;
        }
        case 'undoVertex':
          a.measure.undoVertex();
          break;
        case 'help':
          a.setHelp(true);
          break;
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
