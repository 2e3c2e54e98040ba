/**
 * The viewport as it travels in a URL, and magnification as a pathologist reads it.
 *
 * URL form: `/view/{id}?x=&y=&zoom=&rot=`
 * - `x`, `y`: the image pixel at the centre of the view, in level-0 (full resolution) pixels.
 * - `zoom`: the magnification shown in the toolbar, i.e. `basePower × (screen pixels per image pixel)`.
 *   With objective power 20, `zoom=20` is one image pixel per screen pixel and `zoom=40` is 2x digital
 *   zoom. When the slide has no objective power the base is derived from µm/px (10x ≈ 1 µm/px); with
 *   neither, the base is 1, so `zoom` is plain screen pixels per image pixel.
 * - `rot`: clockwise rotation in degrees (0, 90, 180, 270).
 */

export interface ViewState {
  /** Image pixel (level 0) at the centre of the view. */
  x: number;
  y: number;
  /** Screen (CSS) pixels per level-0 image pixel. */
  imageZoom: number;
  /** Clockwise degrees. */
  rotation: number;
}

export type PowerSource = 'objective' | 'mpp' | 'none';

export interface Power {
  /** Magnification at one image pixel per screen pixel. */
  base: number;
  source: PowerSource;
}

/** Magnification steps offered as buttons and number keys 1–6. */
export const MAGNIFICATIONS = [1.25, 2.5, 5, 10, 20, 40] as const;

/** Conventional microscope equivalence: a 10x objective images about 1 µm per pixel. */
const UM_PER_PX_AT_10X = 1;

export function basePower(objectivePower: number | null, mpp: number | null): Power {
  if (objectivePower !== null && objectivePower > 0) return { base: objectivePower, source: 'objective' };
  if (mpp !== null && mpp > 0) return { base: (10 * UM_PER_PX_AT_10X) / mpp, source: 'mpp' };
  return { base: 1, source: 'none' };
}

export function magnificationOf(imageZoom: number, power: Power): number {
  return imageZoom * power.base;
}

export function imageZoomFor(magnification: number, power: Power): number {
  return magnification / power.base;
}

/** "12.3x", "0.62x", "40x": enough digits to tell steps apart, no noise. */
export function formatMagnification(m: number): string {
  if (!Number.isFinite(m) || m <= 0) return '–';
  const digits = m >= 10 ? 1 : m >= 1 ? 2 : 3;
  return `${Number(m.toFixed(digits))}x`;
}

/**
 * Past one screen pixel per scanned pixel the picture is enlarged, not resolved: digital zoom. With an
 * objective that is any magnification above the objective's; without one, the same 1:1 limit. A hair
 * over 1:1 (rounding in the viewer's arithmetic) still counts as the scan's own resolution.
 */
export function isDigitalZoom(imageZoom: number): boolean {
  return imageZoom > 1 + 1e-3;
}

/** The magnification read-out: "20x", "≈10x" (derived from µm/px), "50%" (neither), "40x (digital)". */
export function magnificationReadout(imageZoom: number, power: Power): { text: string; digital: boolean } {
  const digital = isDigitalZoom(imageZoom);
  const value =
    power.source === 'none'
      ? `${Math.round(imageZoom * 100)}%`
      : `${power.source === 'mpp' ? '≈' : ''}${formatMagnification(magnificationOf(imageZoom, power))}`;
  return { text: digital ? `${value} (digital)` : value, digital };
}

export function normalizeRotation(deg: number): number {
  const r = Math.round(deg) % 360;
  return r < 0 ? r + 360 : r;
}

function finite(v: string | null): number | null {
  if (v === null || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

export interface UrlView {
  x: number;
  y: number;
  /** Magnification (see the module comment). */
  zoom: number;
  rotation: number;
}

/**
 * Reads `x`, `y`, `zoom`, `rot` from a query string. A view needs all of x, y and zoom (a partial one
 * would open an arbitrary field); rotation alone is still honoured by the caller.
 */
export function parseViewParams(search: string): { view: UrlView | null; rotation: number } {
  const p = new URLSearchParams(search);
  const rotation = normalizeRotation(finite(p.get('rot')) ?? 0);
  const x = finite(p.get('x'));
  const y = finite(p.get('y'));
  const zoom = finite(p.get('zoom'));
  if (x === null || y === null || zoom === null || zoom <= 0) return { view: null, rotation };
  return { view: { x, y, zoom, rotation }, rotation };
}

/** Rounds to what a person can tell apart: whole pixels, 4 significant digits of zoom. */
export function writeViewParams(search: string, v: UrlView): string {
  const p = new URLSearchParams(search);
  p.set('x', String(Math.round(v.x)));
  p.set('y', String(Math.round(v.y)));
  p.set('zoom', String(Number(v.zoom.toPrecision(4))));
  const rot = normalizeRotation(v.rotation);
  if (rot === 0) p.delete('rot');
  else p.set('rot', String(rot));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export function urlViewOf(v: ViewState, power: Power): UrlView {
  return { x: v.x, y: v.y, zoom: magnificationOf(v.imageZoom, power), rotation: v.rotation };
}

export function viewStateOf(u: UrlView, power: Power): ViewState {
  return { x: u.x, y: u.y, imageZoom: imageZoomFor(u.zoom, power), rotation: u.rotation };
}
