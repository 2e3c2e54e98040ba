/**
 * Colour deconvolution (Ruifrok & Johnston, "Quantification of histochemical staining by color
 * deconvolution", Anal Quant Cytol Histol 2001) and a tissue mask, on 8-bit RGB pixels.
 */

/** Optical density per unit of each stain in R, G, B: haematoxylin, eosin, DAB (the paper's H&E-DAB matrix). */
export const HED_FROM_STAINS: readonly [number, number, number][] = [
  [0.65, 0.7, 0.29],
  [0.07, 0.99, 0.11],
  [0.27, 0.57, 0.78],
];

function normalise(v: readonly number[]): [number, number, number] {
  const n = Math.hypot(v[0]!, v[1]!, v[2]!);
  return [v[0]! / n, v[1]! / n, v[2]! / n];
}

/** The inverse of a 3 x 3 matrix (rows). */
export function invert3(m: readonly (readonly number[])[]): number[][] {
  const [a, b, c] = m[0]!;
  const [d, e, f] = m[1]!;
  const [g, h, i] = m[2]!;
  const A = e! * i! - f! * h!;
  const B = -(d! * i! - f! * g!);
  const C = d! * h! - e! * g!;
  const det = a! * A + b! * B + c! * C;
  if (Math.abs(det) < 1e-12) throw new Error('stain matrix is singular');
  return [
    [A / det, -(b! * i! - c! * h!) / det, (b! * f! - c! * e!) / det],
    [B / det, (a! * i! - c! * g!) / det, -(a! * f! - c! * d!) / det],
    [C / det, -(a! * h! - b! * g!) / det, (a! * e! - b! * d!) / det],
  ];
}

const STAINS = HED_FROM_STAINS.map(normalise);
/** Row vector of optical densities times this gives stain amounts (H, E, DAB). */
const UNMIX = invert3(STAINS);
/** -log10(v / 255) for each 8-bit value (0 read as 1: a fully dark pixel is not infinitely dense). */
const OD = Float64Array.from({ length: 256 }, (_, v) => -Math.log10(Math.max(v, 1) / 255));

/** Haematoxylin, eosin and DAB amounts (optical density units) of one RGB pixel. */
export function unmix(r: number, g: number, b: number): [number, number, number] {
  const o = [OD[r]!, OD[g]!, OD[b]!];
  return [0, 1, 2].map((k) => o[0]! * UNMIX[0]![k]! + o[1]! * UNMIX[1]![k]! + o[2]! * UNMIX[2]![k]!) as [
    number,
    number,
    number,
  ];
}

/** Haematoxylin amount of every pixel of interleaved RGB (`channels` per pixel), never below 0. */
export function haematoxylin(rgb: Uint8Array, channels: number): Float32Array {
  const n = Math.floor(rgb.length / channels);
  const out = new Float32Array(n);
  const u0 = UNMIX[0]![0]!;
  const u1 = UNMIX[1]![0]!;
  const u2 = UNMIX[2]![0]!;
  for (let i = 0; i < n; i++) {
    const j = i * channels;
    const h = OD[rgb[j]!]! * u0 + OD[rgb[j + 1]!]! * u1 + OD[rgb[j + 2]!]! * u2;
    out[i] = h > 0 ? h : 0;
  }
  return out;
}

/** What counts as tissue: stained (saturated) and not black, or dark enough to be dense tissue. */
export const TISSUE = { minSaturation: 0.1, minBrightness: 0.12, darkBrightness: 0.55 };

/**
 * Tissue pixels of interleaved RGB: saturation (max - min) / max at least TISSUE.minSaturation and
 * brightness (max / 255) at least TISSUE.minBrightness, or brightness under TISSUE.darkBrightness;
 * glass is bright and grey. Then closed and opened with a 3 x 3 square, so single-pixel specks and
 * cracks go.
 */
export function tissueMask(rgb: Uint8Array, w: number, h: number, channels: number): Uint8Array {
  const raw = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const j = i * channels;
    const r = rgb[j]!;
    const g = rgb[j + 1]!;
    const b = rgb[j + 2]!;
    const mx = Math.max(r, g, b);
    const mn = Math.min(r, g, b);
    const bright = mx / 255;
    const sat = mx === 0 ? 0 : (mx - mn) / mx;
    raw[i] =
      (sat >= TISSUE.minSaturation && bright >= TISSUE.minBrightness) ||
      (bright < TISSUE.darkBrightness && bright >= TISSUE.minBrightness)
        ? 1
        : 0;
  }
  const closed = erode(dilate(raw, w, h), w, h);
  return dilate(erode(closed, w, h), w, h);
}

/**
 * 3 x 3 dilation (`grow`) or erosion, as two passes of three (rows, then columns); outside the image
 * counts as background, so erosion shrinks regions at the border too.
 */
function morph(m: Uint8Array, w: number, h: number, grow: boolean): Uint8Array {
  const row = new Uint8Array(w * h);
  const out = new Uint8Array(w * h);
  const hit = grow ? 1 : 0;
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) {
      const l = x > 0 ? m[o + x - 1]! : 0;
      const c = m[o + x]!;
      const r = x < w - 1 ? m[o + x + 1]! : 0;
      row[o + x] = l === hit || c === hit || r === hit ? hit : 1 - hit;
    }
  }
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) {
      const u = y > 0 ? row[o - w + x]! : 0;
      const c = row[o + x]!;
      const d = y < h - 1 ? row[o + w + x]! : 0;
      out[o + x] = u === hit || c === hit || d === hit ? hit : 1 - hit;
    }
  }
  return out;
}

export const dilate = (m: Uint8Array, w: number, h: number): Uint8Array => morph(m, w, h, true);
export const erode = (m: Uint8Array, w: number, h: number): Uint8Array => morph(m, w, h, false);
