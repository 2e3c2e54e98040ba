/**
 * Is an outline colour easy to see on H&E? A copy of the server's rule (server/review/classes.ts,
 * which seeds the default palette by it): WCAG 2 contrast of at least 3:1 against eosin pink and
 * 1.5:1 against haematoxylin purple, and no near-black (it reads as nuclei or a pen mark).
 * legibility.test.ts fails if the copy drifts from the server's.
 */

export const HE_PINK = '#f2d4e4';
export const HE_PURPLE = '#7a4b8c';
export const MIN_CONTRAST_ON_PINK = 3;
export const MIN_CONTRAST_ON_PURPLE = 1.5;
export const MIN_LUMINANCE = 0.1;

function channel(v: number): number {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** WCAG 2 relative luminance of #rrggbb (0 for anything else). */
export function relativeLuminance(hex: string): number {
  if (!/^#[0-9a-fA-F]{6}$/.test(hex)) return 0;
  const n = Number.parseInt(hex.slice(1), 16);
  return 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
}

export function contrastRatio(a: string, b: string): number {
  const x = relativeLuminance(a);
  const y = relativeLuminance(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

export function legibleOnHE(hex: string): boolean {
  return (
    relativeLuminance(hex) >= MIN_LUMINANCE &&
    contrastRatio(hex, HE_PINK) >= MIN_CONTRAST_ON_PINK &&
    contrastRatio(hex, HE_PURPLE) >= MIN_CONTRAST_ON_PURPLE
  );
}

/** Why a colour is hard to see on H&E, or null. */
export function legibilityProblem(hex: string): string | null {
  if (legibleOnHE(hex)) return null;
  if (relativeLuminance(hex) < MIN_LUMINANCE) return 'too dark: reads as nuclei';
  if (contrastRatio(hex, HE_PINK) < MIN_CONTRAST_ON_PINK) return 'faint on eosin pink';
  return 'faint on haematoxylin purple';
}
