/** Scale bar lengths: the longest "nice" length (1, 2 or 5 × 10ⁿ µm) that fits the space given. */

export interface ScaleBarSpec {
  /** Physical length in µm. */
  um: number;
  /** On-screen length in CSS pixels. */
  px: number;
  label: string;
}

export function niceLengthAtMost(um: number): number {
  if (!(um > 0) || !Number.isFinite(um)) return 0;
  const exp = Math.floor(Math.log10(um));
  const base = 10 ** exp;
  // Guard against 10^n landing a hair under an exact power in floating point.
  const m = um / base + 1e-9;
  const step = m >= 5 ? 5 : m >= 2 ? 2 : 1;
  return Number((step * base).toPrecision(1));
}

export function formatScaleLength(um: number): string {
  if (um >= 1000) return `${Number((um / 1000).toPrecision(3))} mm`;
  return `${Number(um.toPrecision(3))} µm`;
}

/**
 * @param umPerScreenPx µm covered by one CSS pixel along the bar (mpp / screen px per image px)
 * @param maxPx the widest the bar may be drawn
 */
export function scaleBar(umPerScreenPx: number, maxPx = 160): ScaleBarSpec | null {
  if (!(umPerScreenPx > 0) || !Number.isFinite(umPerScreenPx)) return null;
  const um = niceLengthAtMost(umPerScreenPx * maxPx);
  if (um <= 0) return null;
  return { um, px: um / umPerScreenPx, label: formatScaleLength(um) };
}
