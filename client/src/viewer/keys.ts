/** Viewer keyboard map, kept as data so the help overlay and the handler cannot drift apart. */

/** The annotation tools: select (and move), or draw one kind. A measurement is an annotation. */
export type Tool =
  'select' | 'point' | 'line' | 'polyline' | 'rectangle' | 'ellipse' | 'polygon' | 'freehand';

export type KeyAction =
  | { kind: 'pan'; dx: number; dy: number }
  | { kind: 'zoom'; factor: number }
  | { kind: 'fit' }
  | { kind: 'magnification'; index: number }
  | { kind: 'rotate'; degrees: number }
  | { kind: 'tool'; tool: Tool }
  /** Esc: the drawing in progress, else the fresh shape (discarded), else the tool. */
  | { kind: 'cancel' }
  /** Enter: close the polygon or polyline in progress, else keep the fresh shape. */
  | { kind: 'finish' }
  /** Delete the selected annotation. */
  | { kind: 'delete' }
  /** Backspace: the last vertex while drawing, else as Delete (a Mac's Delete key is Backspace). */
  | { kind: 'backspace' }
  | { kind: 'help' }
  /** AI findings: select the next (1) or previous (-1) one shown. */
  | { kind: 'ai-step'; step: 1 | -1 }
  /** AI verdict on the selected finding, or on the slide-level result; the same again withdraws it. */
  | { kind: 'ai-verdict'; verdict: 'accept' | 'reject'; target: 'finding' | 'slide' };

export interface KeyInput {
  key: string;
  shiftKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
}

/** Fraction of the view moved by one arrow press. */
export const PAN_STEP = 0.15;
export const ZOOM_STEP = 1.5;

/** Tool keys (QuPath's letters where it has them: P point, L line, R rectangle, V for select/move). */
const TOOL_KEYS: Record<string, Tool> = {
  v: 'select',
  p: 'point',
  l: 'line',
  r: 'rectangle',
  e: 'ellipse',
  g: 'polygon',
  f: 'freehand',
};

export function actionForKey(e: KeyInput): KeyAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey) return null;
  switch (e.key) {
    case 'ArrowLeft':
      return { kind: 'pan', dx: -PAN_STEP, dy: 0 };
    case 'ArrowRight':
      return { kind: 'pan', dx: PAN_STEP, dy: 0 };
    case 'ArrowUp':
      return { kind: 'pan', dx: 0, dy: -PAN_STEP };
    case 'ArrowDown':
      return { kind: 'pan', dx: 0, dy: PAN_STEP };
    case '+':
    case '=':
      return { kind: 'zoom', factor: ZOOM_STEP };
    case '-':
    case '_':
    case '−':
      return { kind: 'zoom', factor: 1 / ZOOM_STEP };
    case '0':
      return { kind: 'fit' };
    case ']':
      return { kind: 'rotate', degrees: 90 };
    case '[':
      return { kind: 'rotate', degrees: -90 };
    case 'Escape':
      return { kind: 'cancel' };
    case 'Enter':
      return { kind: 'finish' };
    case 'Delete':
      return { kind: 'delete' };
    case 'Backspace':
      return { kind: 'backspace' };
    case '?':
      return { kind: 'help' };
  }
  const k = e.key.toLowerCase();
  if (k === 'l' && e.shiftKey) return { kind: 'tool', tool: 'polyline' };
  // AI results: N steps through the findings shown, A accepts, X rejects (R is the rectangle);
  // with Shift the same for the slide-level result, and Shift+N goes back.
  if (k === 'n') return { kind: 'ai-step', step: e.shiftKey ? -1 : 1 };
  if (k === 'a' || k === 'x')
    return {
      kind: 'ai-verdict',
      verdict: k === 'a' ? 'accept' : 'reject',
      target: e.shiftKey ? 'slide' : 'finding',
    };
  const tool = TOOL_KEYS[k];
  if (tool) return { kind: 'tool', tool };
  if (/^[1-6]$/.test(e.key)) return { kind: 'magnification', index: Number(e.key) - 1 };
  return null;
}

/** The key of each tool, for buttons' titles. */
export const TOOL_KEY: Record<Tool, string> = {
  select: 'V',
  point: 'P',
  line: 'L',
  polyline: 'Shift+L',
  rectangle: 'R',
  ellipse: 'E',
  polygon: 'G',
  freehand: 'F',
};

/** Rows of the help overlay. */
export const KEY_HELP: readonly (readonly [string, string])[] = [
  ['← ↑ → ↓', 'Pan'],
  ['+ / −', 'Zoom in / out'],
  ['0', 'Fit the slide'],
  ['1 – 6', 'Magnification 1.25x, 2.5x, 5x, 10x, 20x, 40x'],
  ['] / [', 'Rotate 90° clockwise / anticlockwise'],
  ['V', 'Select and move annotations (no drawing)'],
  ['P', 'Point: click'],
  ['L', 'Line: drag; shows its length in µm'],
  ['Shift+L', 'Polyline: click each vertex, double-click or Enter to end; length in µm'],
  ['R', 'Rectangle: drag; area in mm², perimeter in µm'],
  ['E', 'Ellipse: drag; area in mm², perimeter in µm'],
  ['G', 'Polygon: click vertices, double-click or Enter to close; area and perimeter'],
  ['F', 'Freehand: drag around the region; area and perimeter'],
  ['Backspace', 'Remove the last vertex while drawing; otherwise as Delete'],
  ['Enter', 'Keep the shape just drawn (it is saved as it is drawn)'],
  ['Esc', 'Cancel the drawing in progress, discard the shape just drawn, then leave the tool'],
  ['Delete', 'Delete the selected annotation'],
  ['Ctrl+Z / Ctrl+Shift+Z', 'Undo / redo my last change (in a review session)'],
  ['N / Shift+N', 'AI results: select the next / previous finding shown'],
  ['A / X', 'AI results: accept / reject the selected finding (the same key again withdraws it)'],
  ['Shift+A / Shift+X', 'AI results: accept / reject the slide-level result (again: withdraw)'],
  ['?', 'Show or hide this help'],
];
