/**
 * Is an outline colour easy to see on H&E? Tissue is eosin pink and haematoxylin purple on a
 * near-white background; a class colour close to any of them (CIE76 ΔE in Lab) blends in.
 */

/** Typical H&E colours (stained tissue and the glass between). */
export const HE_BACKGROUNDS = ['#e8b4cf', '#c784b4', '#6c4a94', '#f2eef2'] as const;

/** Below this distance to any H&E colour an outline is hard to pick out. */
export const MIN_DELTA_E = 20;

function channel(v: number): number {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** sRGB hex (#rrggbb) → CIE L*a*b* (D65). */
export function toLab(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  const r = channel((n >> 16) & 255);
  const g = channel((n >> 8) & 255);
  const b = channel(n & 255);
  const x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
  const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  const [fx, fy, fz] = [f(x), f(y), f(z)];
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

export function deltaE(a: string, b: string): number {
  const [l1, a1, b1] = toLab(a);
  const [l2, a2, b2] = toLab(b);
  return Math.hypot(l1 - l2, a1 - a2, b1 - b2);
}

/** The smallest distance from the colour to the H&E colours. */
export function distanceToHE(hex: string): number {
  return Math.min(...HE_BACKGROUNDS.map((bg) => deltaE(hex, bg)));
}

export function legibleOnHE(hex: string): boolean {
  return distanceToHE(hex) >= MIN_DELTA_E;
}
