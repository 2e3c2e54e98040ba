import { useEffect, useRef, type RefObject } from 'react';
import { actionForKey, type KeyAction, type Tool } from './keys.ts';
import type { OsdController } from './osd.ts';
import { imageZoomFor, MAGNIFICATIONS, type Power } from './viewport.ts';

interface Args {
  controller: RefObject<OsdController | null>;
  power: Power;
  help: boolean;
  setHelp: (open: boolean) => void;
  onMagnification: (m: number) => void;
  maxImageZoom: number;
  /** A dialog of its own is open (sharing): the viewer leaves the keyboard alone. */
  suspended?: boolean;
  onTool: (t: Tool) => void;
  /** A shape is being drawn: Esc, Enter and Backspace are the drawing's (the overlay takes them). */
  drafting: () => boolean;
  /** Esc outside a drawing: discard the fresh shape, else leave the tool, else clear the selection. */
  onEscape: () => void;
  /** Enter outside a drawing: keep the fresh shape; false when there was none (buttons take Enter). */
  onEnter: () => boolean;
  /** Delete the selected annotation. */
  onDelete: () => void;
  /** AI results: step through findings, judge a finding or the slide-level result. */
  onAi?: (action: Extract<KeyAction, { kind: 'ai-step' | 'ai-verdict' }>) => void;
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
      if (typing(e.target) || e.defaultPrevented) return;
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
      if (
        (action.kind === 'cancel' || action.kind === 'finish' || action.kind === 'backspace') &&
        a.drafting()
      )
        return;
      if (action.kind === 'finish') {
        if (a.onEnter()) e.preventDefault();
        return;
      }
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
          a.onTool(action.tool);
          break;
        case 'cancel':
          a.onEscape();
          break;
        case 'delete':
        case 'backspace':
          a.onDelete();
          break;
        case 'help':
          a.setHelp(true);
          break;
        case 'ai-step':
        case 'ai-verdict':
          a.onAi?.(action);
          break;
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
