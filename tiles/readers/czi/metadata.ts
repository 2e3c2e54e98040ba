/** A channel as the CZI metadata describes it (Information > Image > Dimensions > Channels). */
export interface CziChannel {
  index: number;
  name: string;
  /** Display colour, null when the file gives none or gives white (brightfield). */
  color: [number, number, number] | null;
  illumination: string | null;
}

export interface CziMetadata {
  mppX: number | null;
  mppY: number | null;
  objectivePower: number | null;
  objectiveName: string | null;
  channels: CziChannel[];
  properties: Record<string, string>;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&')
    .trim();
}

/** Text of the first <name> element inside `xml`, or null. */
function text(xml: string, name: string): string | null {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([^<]*)</${name}>`).exec(xml);
  return m ? unescapeXml(m[1]!) : null;
}

/** The inner XML of the first element `name` found after `from`, or null. */
function block(xml: string, name: string, from = 0): { inner: string; start: number; end: number } | null {
  const open = new RegExp(`<${name}(?:\\s[^>]*)?>`, 'g');
  open.lastIndex = from;
  const m = open.exec(xml);
  if (!m) return null;
  const start = m.index + m[0].length;
  const end = xml.indexOf(`</${name}>`, start);
  if (end < 0) return null;
  return { inner: xml.slice(start, end), start, end };
}

function positiveNumber(s: string | null): number | null {
  if (s === null) return null;
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** '#AARRGGBB' or '#RRGGBB'; white (brightfield) and unparsable colours give null. */
export function parseColor(s: string | null): [number, number, number] | null {
  if (!s) return null;
  const hex = s.trim().replace(/^#/, '');
  const rgb = hex.length === 8 ? hex.slice(2) : hex.length === 6 ? hex : null;
  if (!rgb || !/^[0-9a-fA-F]{6}$/.test(rgb)) return null;
  const c: [number, number, number] = [0, 2, 4].map((i) => parseInt(rgb.slice(i, i + 2), 16)) as [
    number,
    number,
    number,
  ];
  return c[0] === 255 && c[1] === 255 && c[2] === 255 ? null : c;
}

/** Metres to µm without the noise of binary floating point (4E-07 m is 0.4 µm, not 0.39999…). */
function metresToMicrons(m: number): number {
  return Number((m * 1e6).toPrecision(12));
}

/** Read what a slide needs from the CZI XML metadata: scaling, objective, channels, a few facts. */
export function parseCziMetadata(xml: string): CziMetadata {
  const props: Record<string, string> = {};
  const put = (key: string, value: string | null): void => {
    if (value) props[`czi.${key}`] = value;
  };

  let mppX: number | null = null;
  let mppY: number | null = null;
  const scaling = block(xml, 'Scaling');
  if (scaling) {
    const distance = (axis: string): number | null => {
      const m = new RegExp(`<Distance\\s+Id="${axis}"\\s*>([\\s\\S]*?)</Distance>`).exec(scaling.inner);
      const metres = positiveNumber(m ? text(m[1]!, 'Value') : null);
      return metres === null ? null : metresToMicrons(metres);
    };
    mppX = distance('X');
    mppY = distance('Y') ?? mppX;
  }

  // The objective in use is the one ObjectiveSettings refers to; fall back to the first listed.
  let objectivePower: number | null = null;
  let objectiveName: string | null = null;
  const ref = /<ObjectiveSettings>[\s\S]*?<ObjectiveRef\s+Id="([^"]+)"/.exec(xml)?.[1];
  const objectives = block(xml, 'Objectives');
  if (objectives) {
    const re = /<Objective\s+([^>]*)>([\s\S]*?)<\/Objective>/g;
    let first: { attrs: string; body: string } | null = null;
    let chosen: { attrs: string; body: string } | null = null;
    for (let m = re.exec(objectives.inner); m; m = re.exec(objectives.inner)) {
      const cur = { attrs: m[1]!, body: m[2]! };
      first ??= cur;
      if (ref && new RegExp(`\\bId="${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`).test(cur.attrs))
        chosen = cur;
    }
    const pick = chosen ?? first;
    if (pick) {
      objectivePower = positiveNumber(text(pick.body, 'NominalMagnification'));
      objectiveName = /\bName="([^"]*)"/.exec(pick.attrs)?.[1] ?? text(pick.body, 'Model');
    }
  }
  objectivePower ??= positiveNumber(text(xml, 'NominalMagnification'));

  const channels: CziChannel[] = [];
  const info = xml.indexOf('<Information>');
  const image = info >= 0 ? block(xml, 'Image', info) : null;
  const dims = image ? block(image.inner, 'Dimensions') : null;
  const chs = dims ? block(dims.inner, 'Channels') : null;
  if (chs) {
    const re = /<Channel\s+([^>]*?)(?:\/>|>([\s\S]*?)<\/Channel>)/g;
    for (let m = re.exec(chs.inner); m; m = re.exec(chs.inner)) {
      const attrs = m[1]!;
      const body = m[2] ?? '';
      const id = /\bId="Channel:(\d+)"/.exec(attrs)?.[1];
      channels.push({
        index: id !== undefined ? Number(id) : channels.length,
        name: unescapeXml(/\bName="([^"]*)"/.exec(attrs)?.[1] ?? `Channel ${channels.length}`),
        color: parseColor(text(body, 'Color')),
        illumination: text(body, 'IlluminationType'),
      });
    }
  }
  if (image) {
    put('PixelType', text(image.inner, 'PixelType'));
    put('ComponentBitCount', text(image.inner, 'ComponentBitCount'));
    put('AcquisitionDateAndTime', text(image.inner, 'AcquisitionDateAndTime'));
    for (const d of ['SizeX', 'SizeY', 'SizeC', 'SizeZ', 'SizeT', 'SizeM', 'SizeS'])
      put(d, text(image.inner, d));
  }
  const app = block(xml, 'Application');
  if (app)
    put('Application', [text(app.inner, 'Name'), text(app.inner, 'Version')].filter(Boolean).join(' '));
  const microscope = /<Microscope\s+[^>]*\bName="([^"]*)"/.exec(xml)?.[1] ?? null;
  put('Microscope', microscope ? unescapeXml(microscope) : null);
  put('ObjectiveName', objectiveName ? unescapeXml(objectiveName) : null);
  if (objectivePower !== null) put('NominalMagnification', String(objectivePower));
  if (mppX !== null) put('ScalingX', `${mppX} um`);
  if (mppY !== null) put('ScalingY', `${mppY} um`);
  channels.forEach((c) => put(`Channel${c.index}.Name`, c.name));

  return { mppX, mppY, objectivePower, objectiveName, channels, properties: props };
}
