/**
 * Colour maps for AI heat maps. The server sends each heat map as an 8-bit grey PNG (0..255 over
 * its value range); the viewer colours it here, so a reader can switch maps without a new request.
 */

export const COLOUR_MAPS = ['viridis', 'inferno', 'grey'] as const;
export type ColourMap = (typeof COLOUR_MAPS)[number];

export const COLOUR_MAP_LABELS: Record<ColourMap, string> = {
  viridis: 'Viridis',
  inferno: 'Inferno (hot)',
  grey: 'Grey',
};

/** Matplotlib's maps sampled at 0, 0.1, … 1 (its published values); linear in between. */
const STOPS: Record<Exclude<ColourMap, 'grey'>, readonly string[]> = {
  viridis: [
    '#440154',
    '#482475',
    '#414487',
    '#355f8d',
    '#2a788e',
    '#21918c',
    '#22a884',
    '#44bf70',
    '#7ad151',
    '#bddf26',
    '#fde725',
  ],
  inferno: [
    '#000004',
    '#160b39',
    '#420a68',
    '#6a176e',
    '#932667',
    '#bc3754',
    '#dd513a',
    '#f37819',
    '#fca50a',
    '#f6d746',
    '#fcffa4',
  ],
};

function rgbOf(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** 256 RGB entries (768 bytes): the colour of each grey level. */
export function colourTable(map: ColourMap): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  if (map === 'grey') {
    for (let v = 0; v < 256; v++) lut.fill(v, v * 3, v * 3 + 3);
    return lut;
  }
  const stops = STOPS[map].map(rgbOf);
  const last = stops.length - 1;
  for (let v = 0; v < 256; v++) {
    const at = (v / 255) * last;
    const i = Math.min(Math.floor(at), last - 1);
    const f = at - i;
    const a = stops[i]!;
    const b = stops[i + 1]!;
    for (let c = 0; c < 3; c++) lut[v * 3 + c] = Math.round(a[c]! + (b[c]! - a[c]!) * f);
  }
  return lut;
}

const tables = new Map<ColourMap, Uint8Array>();
function cachedTable(map: ColourMap): Uint8Array {
  let t = tables.get(map);
  if (!t) tables.set(map, (t = colourTable(map)));
  return t;
}

/**
 * Colours RGBA pixels whose grey level is in their red channel (a grey PNG drawn into a canvas),
 * in place. Level 0 (nothing: glass, the heat map's lowest value) is left transparent, so the
 * slide shows through where the algorithm found nothing.
 */
export function colourise(rgba: Uint8ClampedArray, map: ColourMap): Uint8ClampedArray {
  const lut = cachedTable(map);
  for (let i = 0; i < rgba.length; i += 4) {
    const v = rgba[i]!;
    const alpha = rgba[i + 3]!;
    rgba[i] = lut[v * 3]!;
    rgba[i + 1] = lut[v * 3 + 1]!;
    rgba[i + 2] = lut[v * 3 + 2]!;
    rgba[i + 3] = v === 0 ? 0 : alpha;
  }
  return rgba;
}

/** A CSS gradient of the map, for its legend. */
export function legendGradient(map: ColourMap): string {
  const lut = cachedTable(map);
  const stops: string[] = [];
  for (let i = 0; i <= 10; i++) {
    const v = Math.round((i / 10) * 255);
    stops.push(`rgb(${lut[v * 3]}, ${lut[v * 3 + 1]}, ${lut[v * 3 + 2]}) ${i * 10}%`);
  }
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/** A value of the heat map's range for a grey level (legend labels). */
export function valueAt(level: number, range: readonly [number, number]): number {
  return range[0] + ((range[1] - range[0]) * level) / 255;
}
