import { scaleBar, type ScaleBarSpec } from './scalebar.ts';

/**
 * "Save view": the pane's picture as a PNG, as seen (display adjustments are in the canvas's tiles
 * already), with the slide's
 * name and a scale bar drawn in. The name is the one the API gave this user, so a slide opened through
 * a de-identified share carries its study code, never the original name.
 */

/** `<name>-<x>-<y>.png`, x and y the image pixel at the centre; the name made safe for any file system. */
export function viewFileName(name: string, x: number, y: number): string {
  const safe =
    name
      .normalize('NFKC')
      // eslint-disable-next-line no-control-regex
      .replace(/[\\/:*?"<>|\u0000-\u001f\u007f\s]+/g, '_')
      .replace(/^[._-]+|[._-]+$/g, '')
      .slice(0, 100) || 'view';
  return `${safe}-${Math.round(x)}-${Math.round(y)}.png`;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface StampLayout {
  /** CSS pixels → output pixels. */
  scale: number;
  font: number;
  pad: number;
  /** The name, top left. */
  nameBox: Box;
  /** The scale bar's backing box, bottom left. */
  barBox: Box;
  /** The bar itself (filled white) and its length; null without µm/px. */
  bar: (Box & { spec: ScaleBarSpec }) | null;
  /** Text in the bottom box: the bar's length, or why there is no bar. */
  barLabel: string;
  barLabelAt: { x: number; y: number };
}

/** Width of a string in output pixels (a 2D context's measureText, or an estimate in tests). */
export type Measure = (text: string, font: number) => number;

export const estimateText: Measure = (text, font) => text.length * font * 0.6;

/**
 * Where the stamps go on a `width` x `height` image. `umPerPx` is µm per output pixel along the
 * image's horizontal (null: not calibrated); `scale` is output pixels per CSS pixel (the canvas's
 * pixel density), so the stamps are as large as the on-screen scale bar.
 */
export function stampLayout(
  width: number,
  height: number,
  umPerPx: number | null,
  name: string,
  scale: number,
  measure: Measure = estimateText,
): StampLayout {
  const s = scale > 0 ? scale : 1;
  const font = Math.round(13 * s);
  const pad = Math.round(8 * s);
  const margin = Math.round(10 * s);
  const nameW = Math.min(width - 2 * margin, measure(name, font) + 2 * pad);
  const nameBox = { x: margin, y: margin, width: Math.max(0, nameW), height: font + 2 * pad };
  // As on screen: the longest nice length up to 160 CSS px, never more than a third of the image.
  const spec = umPerPx ? scaleBar(umPerPx, Math.min(160 * s, width / 3)) : null;
  const barLabel = spec ? spec.label : 'No scale: µm/px unknown';
  const barH = Math.max(3, Math.round(4 * s));
  const inner = Math.max(spec?.px ?? 0, measure(barLabel, font));
  const boxH = pad + font + Math.round(5 * s) + barH + pad;
  const barBox = {
    x: margin,
    y: height - margin - boxH,
    width: Math.min(width - 2 * margin, inner + 2 * pad),
    height: boxH,
  };
  const centre = barBox.x + barBox.width / 2;
  const bar = spec
    ? {
        x: centre - spec.px / 2,
        y: barBox.y + barBox.height - pad - barH,
        width: spec.px,
        height: barH,
        spec,
      }
    : null;
  return {
    scale: s,
    font,
    pad,
    nameBox,
    barBox,
    bar,
    barLabel,
    barLabelAt: { x: centre, y: barBox.y + pad + font / 2 },
  };
}

const BACKING = 'rgba(21, 24, 29, 0.82)';
const FONT = (px: number): string => `600 ${px}px system-ui, -apple-system, "Segoe UI", sans-serif`;

function roundRect(ctx: CanvasRenderingContext2D, b: Box, r: number): void {
  ctx.beginPath();
  ctx.roundRect(b.x, b.y, b.width, b.height, r);
  ctx.fill();
}

export interface SaveViewInput {
  /** OpenSeadragon's drawing canvas (same-origin tiles: readable). */
  canvas: HTMLCanvasElement;
  /** CSS width of the canvas on screen (its pixel density = canvas.width / this). */
  cssWidth: number;
  name: string;
  /** µm per CSS pixel along the screen's horizontal, or null. */
  umPerScreenPx: number | null;
  /** What shows where there is no slide (the pane's background). */
  background: string;
}

/** The composed picture. Throws if the canvas cannot be read (it would be tainted by a foreign tile). */
export function composeView(input: SaveViewInput): HTMLCanvasElement {
  const { canvas } = input;
  const w = canvas.width;
  const h = canvas.height;
  const density = input.cssWidth > 0 ? w / input.cssWidth : 1;
  const out = document.createElement('canvas');
  out.width = w;
  out.height = h;
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = input.background;
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(canvas, 0, 0);
  // Reading it back is what a tainted canvas refuses: fail here, not with a broken PNG.
  ctx.getImageData(0, 0, 1, 1);

  const umPerPx = input.umPerScreenPx ? input.umPerScreenPx / density : null;
  const measure: Measure = (text, font) => {
    ctx.font = FONT(font);
    return ctx.measureText(text).width;
  };
  const L = stampLayout(w, h, umPerPx, input.name, density, measure);
  const radius = Math.round(6 * L.scale);
  ctx.textBaseline = 'middle';
  ctx.font = FONT(L.font);

  ctx.fillStyle = BACKING;
  roundRect(ctx, L.nameBox, radius);
  ctx.fillStyle = '#fff';
  ctx.textAlign = 'left';
  ctx.save();
  ctx.beginPath();
  ctx.rect(L.nameBox.x, L.nameBox.y, L.nameBox.width - L.pad / 2, L.nameBox.height);
  ctx.clip();
  ctx.fillText(input.name, L.nameBox.x + L.pad, L.nameBox.y + L.nameBox.height / 2);
  ctx.restore();

  ctx.fillStyle = BACKING;
  roundRect(ctx, L.barBox, radius);
  ctx.fillStyle = L.bar ? '#fff' : '#e9c46a';
  ctx.textAlign = 'center';
  ctx.fillText(L.barLabel, L.barLabelAt.x, L.barLabelAt.y);
  if (L.bar) {
    ctx.fillStyle = '#fff';
    ctx.fillRect(L.bar.x, L.bar.y, L.bar.width, L.bar.height);
  }
  return out;
}

export function toPngBlob(c: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) =>
    c.toBlob(
      (b) => (b ? resolve(b) : reject(new Error('the view could not be encoded as PNG'))),
      'image/png',
    ),
  );
}

/** Hands a blob to the browser's download, under `filename`. */
export function download(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  // The download has taken the URL by the next turn; a minute is generous.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
