import type { Rgb } from './render.ts';
import { child, childrenNamed, descendants, parseXml, type XmlElement } from './xml.ts';

/** A Channel element of OME-XML. */
export interface OmeChannel {
  name: string;
  samplesPerPixel: number;
  /** From the Color attribute (RGBA packed in a signed 32-bit integer), null when absent. */
  color: Rgb | null;
}

/** An Image element of OME-XML with its Pixels. */
export interface OmeImage {
  id: string;
  name: string;
  sizeX: number;
  sizeY: number;
  sizeC: number;
  sizeZ: number;
  sizeT: number;
  dimensionOrder: string;
  pixelType: string;
  /** µm per pixel, null when absent or not a length (e.g. unit "pixel"). */
  mppX: number | null;
  mppY: number | null;
  objectivePower: number | null;
  channels: OmeChannel[];
  /** IFD index of each plane in this file, keyed `c,z,t`; planes stored in other files are absent. */
  planes: Map<string, number>;
  /** Some planes live in other files (a multi-file OME-TIFF dataset). */
  hasExternalPlanes: boolean;
}

/** The parts of an OME-XML document the reader uses. */
export interface OmeDocument {
  creator: string;
  uuid: string;
  images: OmeImage[];
}

/** Length units of OME's UnitsLength, in micrometres. */
const UNIT_UM: Record<string, number> = {
  µm: 1,
  μm: 1,
  um: 1,
  micron: 1,
  nm: 1e-3,
  pm: 1e-6,
  Å: 1e-4,
  mm: 1e3,
  cm: 1e4,
  dm: 1e5,
  m: 1e6,
  in: 25_400,
  mil: 25.4,
};

function toMicrons(value: string | undefined, unit: string | undefined): number | null {
  if (value === undefined) return null;
  const v = Number(value);
  const scale = UNIT_UM[unit ?? 'µm'];
  if (!Number.isFinite(v) || v <= 0 || scale === undefined) return null;
  return v * scale;
}

function int(v: string | undefined, fallback: number): number {
  const n = v === undefined ? NaN : Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : fallback;
}

/** OME Color: RGBA in a signed 32-bit integer. */
export function omeColor(v: string | undefined): Rgb | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  if (!Number.isInteger(n)) return null;
  const u = n >>> 0;
  return [(u >>> 24) & 255, (u >>> 16) & 255, (u >>> 8) & 255];
}

/** Plane index -> (c, z, t) by DimensionOrder (e.g. XYCZT: C varies fastest). */
function planeCoords(index: number, order: string, sizes: Record<string, number>): [number, number, number] {
  const coords: Record<string, number> = { C: 0, Z: 0, T: 0 };
  let rest = index;
  for (const dim of order.slice(2)) {
    const size = Math.max(1, sizes[dim] ?? 1);
    coords[dim] = rest % size;
    rest = Math.floor(rest / size);
  }
  return [coords.C ?? 0, coords.Z ?? 0, coords.T ?? 0];
}

function planeIndex(c: number, z: number, t: number, order: string, sizes: Record<string, number>): number {
  const coords: Record<string, number> = { C: c, Z: z, T: t };
  let index = 0;
  let stride = 1;
  for (const dim of order.slice(2)) {
    index += (coords[dim] ?? 0) * stride;
    stride *= Math.max(1, sizes[dim] ?? 1);
  }
  return index;
}

function objectiveOf(root: XmlElement, image: XmlElement): number | null {
  const objectives = descendants(root, 'Objective');
  const ref = child(image, 'ObjectiveSettings')?.attrs.ID;
  const chosen = ref
    ? objectives.find((o) => o.attrs.ID === ref)
    : objectives.length === 1
      ? objectives[0]
      : undefined;
  const mag = Number(chosen?.attrs.NominalMagnification);
  return Number.isFinite(mag) && mag > 0 ? mag : null;
}

/**
 * Read the OME-XML of an OME-TIFF: images, channels, physical pixel size, objective, and which IFD
 * holds each plane (TiffData elements, or IFD = plane index when there are none).
 */
export function parseOmeXml(xml: string): OmeDocument | null {
  const root = parseXml(xml);
  if (!root || root.name !== 'OME') return null;
  const uuid = root.attrs.UUID ?? '';
  let firstPlainIfd = 0;
  const images: OmeImage[] = [];
  for (const image of childrenNamed(root, 'Image')) {
    const pixels = child(image, 'Pixels');
    if (!pixels) continue;
    const a = pixels.attrs;
    const channels: OmeChannel[] = childrenNamed(pixels, 'Channel').map((ch) => ({
      name: ch.attrs.Name ?? ch.attrs.Fluor ?? '',
      samplesPerPixel: int(ch.attrs.SamplesPerPixel, 1),
      color: omeColor(ch.attrs.Color),
    }));
    const sizeC = int(a.SizeC, 1);
    // An interleaved RGB image has SizeC 3 but one Channel with 3 samples and one plane per (z, t).
    const planesC = channels.length > 0 ? channels.length : sizeC;
    const sizes: Record<string, number> = { C: planesC, Z: int(a.SizeZ, 1), T: int(a.SizeT, 1) };
    const order = /^XY[CZT]{3}$/.test(a.DimensionOrder ?? '') ? (a.DimensionOrder as string) : 'XYCZT';
    const total = sizes.C! * sizes.Z! * sizes.T!;
    const planes = new Map<string, number>();
    let hasExternalPlanes = false;
    const tiffData = childrenNamed(pixels, 'TiffData');
    for (const td of tiffData) {
      const fileUuid = child(td, 'UUID')?.text;
      const external = fileUuid !== undefined && uuid !== '' && fileUuid !== uuid;
      const hasAttrs = ['IFD', 'FirstC', 'FirstZ', 'FirstT', 'PlaneCount'].some((k) => k in td.attrs);
      const ifd = int(td.attrs.IFD, 0);
      const start = planeIndex(
        int(td.attrs.FirstC, 0),
        int(td.attrs.FirstZ, 0),
        int(td.attrs.FirstT, 0),
        order,
        sizes,
      );
      const count = int(td.attrs.PlaneCount, hasAttrs && !('PlaneCount' in td.attrs) ? 1 : total - start);
      for (let k = 0; k < count && start + k < total; k++) {
        if (external) {
          hasExternalPlanes = true;
          continue;
        }
        const [c, z, t] = planeCoords(start + k, order, sizes);
        planes.set(`${c},${z},${t}`, ifd + k);
      }
    }
    if (tiffData.length === 0) {
      for (let p = 0; p < total; p++) {
        const [c, z, t] = planeCoords(p, order, sizes);
        planes.set(`${c},${z},${t}`, firstPlainIfd + p);
      }
      firstPlainIfd += total;
    }
    images.push({
      id: image.attrs.ID ?? '',
      name: image.attrs.Name ?? '',
      sizeX: int(a.SizeX, 0),
      sizeY: int(a.SizeY, 0),
      sizeC,
      sizeZ: sizes.Z!,
      sizeT: sizes.T!,
      dimensionOrder: order,
      pixelType: a.Type ?? '',
      mppX: toMicrons(a.PhysicalSizeX, a.PhysicalSizeXUnit),
      mppY: toMicrons(a.PhysicalSizeY, a.PhysicalSizeYUnit),
      objectivePower: objectiveOf(root, image),
      channels,
      planes,
      hasExternalPlanes,
    });
  }
  return { creator: root.attrs.Creator ?? '', uuid, images };
}

/** Which associated image an OME Image is, by its name (Bio-Formats names them so when converting). */
export function omeAssociatedRole(name: string): 'label' | 'macro' | 'thumbnail' | null {
  const n = name.toLowerCase();
  if (/\blabel\b/.test(n)) return 'label';
  if (/\b(macro|overview)\b/.test(n)) return 'macro';
  if (/\bthumbnail\b/.test(n)) return 'thumbnail';
  return null;
}
