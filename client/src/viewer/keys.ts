/** Viewer keyboard map, kept as data so the help overlay and the handler cannot drift apart. */

export type Tool = 'pan' | 'line' | 'rect' | 'polygon';

export type KeyAction =
  | { kind: 'pan'; dx: number; dy: number }
  | { kind: 'zoom'; factor: number }
  | { kind: 'fit' }
  | { kind: 'magnification'; index: number }
  | { kind: 'rotate'; degrees: number }
  | { kind: 'tool'; tool: Tool }
  | { kind: 'cancel' }
  | { kind: 'finish' }
  | { kind: 'undoVertex' }
  | { kind: 'help' };

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
    case 'r':
    case 'R':
      return { kind: 'rotate', degrees: e.shiftKey ? -90 : 90 };
    case 'l':
    case 'L':
      return { kind: 'tool', tool: 'line' };
    case 'b':
    case 'B':
      return { kind: 'tool', tool: 'rect' };
    case 'p':
    case 'P':
      return { kind: 'tool', tool: 'polygon' };
    case 'm':
    case 'M':
      return { kind: 'tool', tool: 'pan' };
    case 'Escape':
      return { kind: 'cancel' };
    case 'Enter':
      return { kind: 'finish' };
    case 'Backspace':
      return { kind: 'undoVertex' };
    case '?':
      return { kind: 'help' };
  }
  if (/^[1-6]$/.test(e.key)) return { kind: 'magnification', index: Number(e.key) - 1 };
  return null;
}

/** Rows of the help overlay. */
export const KEY_HELP: readonly (readonly [string, string])[] = [
  ['← ↑ → ↓', 'Pan'],
  ['+ / −', 'Zoom in / out'],
  ['0', 'Fit the slide'],
  ['1 – 6', 'Magnification 1.25x, 2.5x, 5x, 10x, 20x, 40x'],
  ['R / Shift+R', 'Rotate 90° clockwise / anticlockwise'],
  ['M', 'Pan (no tool)'],
  ['L', 'Measure a line'],
  ['B', 'Measure a rectangle (box)'],
  ['P', 'Measure a polygon: click vertices, double-click or Enter to close'],
  ['Backspace', 'Remove the last polygon vertex'],
  ['Esc', 'Cancel the measurement in progress, then leave the tool'],
  ['?', 'Show or hide this help'],
];
