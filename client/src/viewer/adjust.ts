/**
 * Display adjustments of one pane: brightness, contrast and gamma for any slide, and for fluorescence
 * slides whose channels were rendered into distinct primaries at ingest, each channel's on/off,
 * colour and range.
 *
 * The server stores 8-bit RGB: a multichannel image is mixed into it at ingest (tiles/readers/tiff/
 * render.ts), each channel stretched over a window of its stored values, tinted and added. When every
 * channel went to its own primary (red, green or blue) nothing was mixed, so each channel can be read
 * back from its component exactly and re-tinted by a colour matrix; its range can only be narrowed
 * within the ingest window (values outside it were clipped to black or full). Other colours (yellow,
 * cyan, more than three channels) overlap in a component and were clipped where they added up, so
 * they cannot be separated in the browser; those slides get the global adjustments only.
 *
 * Everything here is pure; osd.ts runs the byte loop over each tile as it arrives, so the picture on
 * screen, its canvas and a saved view all hold the adjusted pixels.
 */

export type Rgb = readonly [number, number, number];

/** A channel as the server's `rendering` text describes it. */
export interface RenderedChannel {
  name: string;
  /** Tint at full intensity, 0..255 per component. */
  color: Rgb;
  /** Stored values mapped to black and to full intensity at ingest. */
  lo: number;
  hi: number;
}

export interface ChannelLayout {
  channels: RenderedChannel[];
  /** Component (0 red, 1 green, 2 blue) each channel was drawn into, when every one has its own; else null. */
  components: number[] | null;
}

const PRIMARY: Record<string, number> = { ff0000: 0, '00ff00': 1, '0000ff': 2 };

function parseColor(hex: string): Rgb {
  const n = Number.parseInt(hex, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function toHex(c: Rgb): string {
  return c.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
}

/**
 * Reads the channel list of a `rendering` text such as
 * `3 16-bit channels mixed additively in colour and clipped: DAPI -> #0000ff (0..40), FITC -> #00ff00
 * (1..30), Cy3 -> #ff0000 (5..27); each with a linear stretch …`. Null for anything else (brightfield,
 * one grey channel, other readers' wording).
 */
export function parseRendering(text: string | null | undefined): ChannelLayout | null {
  if (!text) return null;
  const head = /^\d+ .*? channels mixed additively in colour and clipped: (.*); each with /s.exec(text);
  if (!head) return null;
  const list = head[1]!;
  const re = /(?:^|, )(.*?) -> #([0-9a-fA-F]{6}) \(([^)]*?)\.\.([^)]*)\)/g;
  const channels: RenderedChannel[] = [];
  for (let m = re.exec(list); m; m = re.exec(list)) {
    const lo = Number(m[3]);
    const hi = Number(m[4]);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return null;
    channels.push({ name: m[1]!, color: parseColor(m[2]!), lo, hi });
  }
  if (channels.length < 2) return null;
  const components = channels.map((c) => PRIMARY[toHex(c.color)] ?? -1);
  const distinct = components.every((p) => p >= 0) && new Set(components).size === components.length;
  return { channels, components: distinct ? components : null };
}

export interface ChannelSetting {
  on: boolean;
  color: Rgb;
  /** The range shown from black to full, as fractions of the ingest window (0..1, from < to). */
  from: number;
  to: number;
}

export interface Adjustments {
  /** Multiplier, 1 = unchanged. */
  brightness: number;
  /** Slope about mid-grey, 1 = unchanged. */
  contrast: number;
  /** Display gamma, 1 = unchanged; above 1 brightens mid-tones (out = in^(1/γ)). */
  gamma: number;
  /** One per channel when the slide's channels can be separated, else empty. */
  channels: ChannelSetting[];
}

export function defaultAdjustments(layout: ChannelLayout | null): Adjustments {
  return {
    brightness: 1,
    contrast: 1,
    gamma: 1,
    channels:
      layout?.components != null
        ? layout.channels.map((c) => ({ on: true, color: c.color, from: 0, to: 1 }))
        : [],
  };
}

function sameColor(a: Rgb, b: Rgb): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
}

/** The stored value a range fraction stands for, for labels. */
export function storedValue(c: RenderedChannel, fraction: number): number {
  return c.lo + fraction * (c.hi - c.lo);
}

/**
 * The filter as three optional stages, in order:
 * 1. `windows`: per input component, `clamp(slope·v + intercept)` (each channel's range);
 * 2. `matrix`: 3x3 (rows: output R, G, B; columns: input R, G, B) re-tinting and switching channels;
 * 3. `tone`: per component `clamp(amplitude·v^exponent + offset)` (brightness, contrast and gamma
 *    in one).
 * A stage is null when it would change nothing; all null means no filter at all.
 */
export interface FilterSpec {
  windows: { slope: number; intercept: number }[] | null;
  matrix: number[][] | null;
  tone: { amplitude: number; exponent: number; offset: number } | null;
}

export function filterSpec(adj: Adjustments, layout: ChannelLayout | null): FilterSpec {
  let windows: FilterSpec['windows'] = null;
  let matrix: FilterSpec['matrix'] = null;
  const comps = layout?.components;
  if (comps && layout && adj.channels.length === comps.length) {
    const w = [0, 1, 2].map(() => ({ slope: 1, intercept: 0 }));
    const m = [0, 1, 2].map(() => [0, 0, 0]);
    let windowed = false;
    let tinted = false;
    adj.channels.forEach((ch, i) => {
      const p = comps[i]!;
      const span = Math.max(1e-3, ch.to - ch.from);
      if (ch.from !== 0 || ch.to !== 1) {
        w[p] = { slope: 1 / span, intercept: -ch.from / span };
        windowed = true;
      }
      const original = layout.channels[i]!.color;
      if (!ch.on || !sameColor(ch.color, original)) tinted = true;
      if (ch.on) for (let o = 0; o < 3; o++) m[o]![p] = ch.color[o]! / 255;
    });
    if (windowed) windows = w;
    // A component no channel was drawn into stays as it is (black in practice).
    for (let p = 0; p < 3; p++) if (!comps.includes(p)) m[p]![p] = 1;
    if (tinted) matrix = m;
  }
  const { brightness: b, contrast: c, gamma: g } = adj;
  const tone =
    b === 1 && c === 1 && g === 1 ? null : { amplitude: c * b, exponent: 1 / g, offset: 0.5 * (1 - c) };
  return { windows, matrix, tone };
}

export function isIdentity(s: FilterSpec): boolean {
  return !s.windows && !s.matrix && !s.tone;
}

const clamp01 = (v: number): number => (v <= 0 ? 0 : v >= 1 ? 1 : v);

/** One pixel (components 0..1) through the filter: the definition the byte loop follows. */
export function applyToPixel(
  s: FilterSpec,
  rgb: readonly [number, number, number],
): [number, number, number] {
  let v: [number, number, number] = [rgb[0], rgb[1], rgb[2]];
  if (s.windows) {
    const w = s.windows;
    v = [0, 1, 2].map((i) => clamp01(w[i]!.slope * v[i]! + w[i]!.intercept)) as [number, number, number];
  }
  if (s.matrix) {
    const m = s.matrix;
    v = [0, 1, 2].map((o) => clamp01(m[o]![0]! * v[0] + m[o]![1]! * v[1] + m[o]![2]! * v[2])) as [
      number,
      number,
      number,
    ];
  }
  if (s.tone) {
    const t = s.tone;
    v = v.map((x) => clamp01(t.amplitude * Math.pow(x, t.exponent) + t.offset)) as [number, number, number];
  }
  return v;
}

/**
 * The filter as a function of RGBA bytes (changed in place, alpha untouched), its lookup tables built
 * once: a few ms a 512 x 512 tile. Null when the filter changes nothing.
 */
export function pixelFilter(s: FilterSpec): ((data: Uint8ClampedArray) => void) | null {
  if (isIdentity(s)) return null;
  const lut = (f: (x: number) => number): Uint8ClampedArray =>
    Uint8ClampedArray.from({ length: 256 }, (_, i) => Math.round(f(i / 255) * 255));
  const windows = s.windows;
  const win = [0, 1, 2].map((i) =>
    lut((x) => (windows ? clamp01(windows[i]!.slope * x + windows[i]!.intercept) : x)),
  );
  const [w0, w1, w2] = [win[0]!, win[1]!, win[2]!];
  const t = s.tone;
  const tone = lut((x) => (t ? clamp01(t.amplitude * Math.pow(x, t.exponent) + t.offset) : x));
  const m = s.matrix;
  return (data) => {
    for (let i = 0; i < data.length; i += 4) {
      let r = w0[data[i]!]!;
      let g = w1[data[i + 1]!]!;
      let b = w2[data[i + 2]!]!;
      if (m) {
        const R = m[0]![0]! * r + m[0]![1]! * g + m[0]![2]! * b;
        const G = m[1]![0]! * r + m[1]![1]! * g + m[1]![2]! * b;
        const B = m[2]![0]! * r + m[2]![1]! * g + m[2]![2]! * b;
        r = R > 255 ? 255 : Math.round(R);
        g = G > 255 ? 255 : Math.round(G);
        b = B > 255 ? 255 : Math.round(B);
      }
      data[i] = tone[r]!;
      data[i + 1] = tone[g]!;
      data[i + 2] = tone[b]!;
    }
  };
}
