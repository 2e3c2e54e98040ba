import type { AssociatedName } from '../../../protocol/index.ts';
import { SlideError } from '../../errors.ts';
import type { Probe, SlideReader, SlideSource } from '../types.ts';
import { checkSlideSize, isReducedCopy, levelOf, resolutionMpp, slideName } from './common.ts';
import { scannerTilesOf } from './jpeg-tiles.ts';
import { ifdPixels } from './pixels.ts';
import { omeAssociatedRole, parseOmeXml, type OmeImage } from './ome-xml.ts';
import {
  channelWindows,
  checkChannelPlane,
  defaultColors,
  describeRendering,
  renderChannels,
  type Channel,
  type Rgb,
} from './render.ts';
import { tiffDialect } from './sniff.ts';
import { TiffSlideSource, withFile } from './source.ts';
import { TiffFile, Ifd } from '../../tiff/file.ts';

/**
 * More channels than this are not mixed into one RGB image: beyond the palette's distinct colours the
 * sum turns white. Files naming their own colours may show up to MAX_OWN_COLOUR_CHANNELS.
 */
export const MAX_PALETTE_CHANNELS = 7;
/** See MAX_PALETTE_CHANNELS. */
export const MAX_OWN_COLOUR_CHANNELS = 16;

/**
 * The pyramid of one plane: its SubIFDs (Bio-Formats 6 and later), or else the pages that follow it
 * while each is a reduced-resolution copy (older writers).
 */
export async function planeLevels(file: TiffFile, plane: Ifd, claimed: Set<number>): Promise<Ifd[]> {
  const subs = await plane.subIfds();
  const levels = [plane];
  if (subs.length > 0) {
    for (const s of subs) if (isReducedCopy(levels[levels.length - 1]!, s)) levels.push(s);
    return levels;
  }
  for (const ifd of file.ifds.slice(plane.index + 1)) {
    if (
      claimed.has(ifd.index) ||
      (ifd.newSubfileType & 1) === 0 ||
      !isReducedCopy(levels[levels.length - 1]!, ifd)
    )
      break;
    levels.push(ifd);
  }
  return levels;
}

/**
 * Colours for the channels: the file's own when they tell the channels apart (Bio-Formats writes white
 * for "unset"), else the default palette.
 */
export function channelColors(colors: (Rgb | null)[], count: number): { colors: Rgb[]; own: boolean } {
  const own = colors.slice(0, count);
  const usable =
    count > 1 &&
    own.length === count &&
    own.every((c): c is Rgb => c !== null) &&
    new Set(own.map((c) => c.join(','))).size === count;
  return usable ? { colors: own as Rgb[], own: true } : { colors: defaultColors(count), own: false };
}

const PRIMARY: Record<string, Rgb> = {
  red: [255, 0, 0],
  r: [255, 0, 0],
  green: [0, 255, 0],
  g: [0, 255, 0],
  blue: [0, 0, 255],
  b: [0, 0, 255],
};

/**
 * Colours of a brightfield RGB image stored as three 8-bit planes (channels named red/green/blue, or
 * coloured pure red, green and blue): such an image is composed as is, not stretched like fluorescence.
 */
export function planarRgbOrder(image: OmeImage): Rgb[] | null {
  if (image.pixelType !== 'uint8' || image.channels.length !== 3) return null;
  const byName = image.channels.map((c) => PRIMARY[c.name.trim().toLowerCase()]);
  const byColour = image.channels.map((c) => c.color);
  for (const cols of [byName, byColour]) {
    if (cols.every((c): c is Rgb => c !== undefined && c !== null)) {
      const keys = new Set(cols.map((c) => c.join(',')));
      if (keys.size === 3 && [...keys].every((k) => ['255,0,0', '0,255,0', '0,0,255'].includes(k)))
        return cols;
    }
  }
  return null;
}

function pickMain(images: OmeImage[]): OmeImage | undefined {
  const candidates = images.filter((im) => omeAssociatedRole(im.name) === null);
  return (candidates.length > 0 ? candidates : images).reduce<OmeImage | undefined>(
    (best, im) => (!best || im.sizeX * im.sizeY > best.sizeX * best.sizeY ? im : best),
    undefined,
  );
}

async function openOme(probe: Probe): Promise<SlideSource> {
  const file = await TiffFile.open(probe.path);
  return withFile(file, async () => {
    const first = file.ifds[0];
    const doc = first ? parseOmeXml(first.description) : null;
    if (!doc || doc.images.length === 0)
      throw file.corrupt('the OME-XML in the first ImageDescription is unreadable');
    const image = pickMain(doc.images);
    if (!image) throw file.corrupt('the OME-XML describes no image');
    checkSlideSize(file.name, image.sizeX, image.sizeY);

    const ifdAt = (c: number): Ifd => {
      const idx = image.planes.get(`${c},0,0`);
      const ifd = idx === undefined ? undefined : file.ifds[idx];
      if (!ifd) {
        if (image.hasExternalPlanes) {
          throw new SlideError(
            'UNSUPPORTED_FORMAT',
            `${file.name}: multi-file OME-TIFF (channel ${c} is in another file)`,
          );
        }
        throw file.corrupt(`OME-XML places channel ${c} in IFD ${idx ?? '?'}, which does not exist`);
      }
      if (ifd.width !== image.sizeX || ifd.height !== image.sizeY) {
        throw file.corrupt(
          `IFD ${ifd.index} is ${ifd.width}x${ifd.height}, OME-XML says ${image.sizeX}x${image.sizeY}`,
        );
      }
      return ifd;
    };
    const claimed = new Set<number>();
    for (const im of doc.images) for (const idx of im.planes.values()) claimed.add(idx);

    const base = ifdAt(0);
    const rgb = base.samplesPerPixel >= 3;
    const planeCount = rgb ? 1 : Math.max(1, image.channels.length || image.sizeC);
    const planarRgb = !rgb && planarRgbOrder(image);
    const { colors, own } = planarRgb
      ? { colors: planarRgb, own: true }
      : channelColors(
          image.channels.map((c) => c.color),
          planeCount,
        );
    const limit = own ? MAX_OWN_COLOUR_CHANNELS : MAX_PALETTE_CHANNELS;
    const shown = Math.min(planeCount, limit);

    const channels: Channel[] = [];
    for (let c = 0; c < shown; c++) {
      const plane = ifdAt(c);
      if (!rgb) checkChannelPlane(file.name, plane);
      channels.push({
        name: image.channels[c]?.name ?? '',
        color: colors[c] ?? [255, 255, 255],
        planes: await planeLevels(file, plane, claimed),
      });
    }
    const levelCount = Math.min(...channels.map((c) => c.planes.length));
    for (const c of channels) c.planes = c.planes.slice(0, levelCount);
    await Ifd.checkAll(
      channels.flatMap((c) =>
        c.planes.map((ifd, k) => [ifd, `level ${k} of ${c.name || 'the image'}`] as const),
      ),
    );

    const associated = new Map<AssociatedName, Ifd>();
    for (const im of doc.images) {
      const role = omeAssociatedRole(im.name);
      const idx = im.planes.get('0,0,0');
      const ifd = idx === undefined ? undefined : file.ifds[idx];
      if (role && ifd && im !== image && !associated.has(role)) {
        await ifd.checkData(`the ${role} image`);
        associated.set(role, ifd);
      }
    }

    const properties: Record<string, string> = {
      'ome.Creator': doc.creator,
      'ome.Image.Name': image.name,
      'ome.Pixels.Type': image.pixelType,
      'ome.Pixels.SizeC': String(image.sizeC),
      'ome.Pixels.SizeZ': String(image.sizeZ),
      'ome.Pixels.SizeT': String(image.sizeT),
      'ome.Pixels.DimensionOrder': image.dimensionOrder,
    };
    image.channels.forEach((c, i) => {
      if (c.name) properties[`ome.Channel.${i}.Name`] = c.name;
    });
    if (image.mppX) properties['ome.Pixels.PhysicalSizeX.um'] = String(image.mppX);
    if (image.mppY) properties['ome.Pixels.PhysicalSizeY.um'] = String(image.mppY);
    if (image.objectivePower) properties['ome.Objective.NominalMagnification'] = String(image.objectivePower);

    const fallbackMpp = image.mppX === null && image.mppY === null ? resolutionMpp(base) : null;
    const levels = channels[0]!.planes.map((ifd) => levelOf(ifd, base.width));
    const stretched = !rgb || base.bitsPerSample > 8;
    const win = rgb
      ? null
      : planarRgb
        ? { windows: channels.map(() => ({ lo: 0, hi: 255 })), from: '' }
        : await channelWindows(file.path, channels);
    let rendering: string | null = null;
    if (planarRgb) rendering = 'RGB stored as 3 separate 8-bit channel planes, composed without stretching';
    else if (win) rendering = describeRendering(channels, win.windows, win.from);
    else if (stretched) rendering = `${base.bitsPerSample}-bit RGB scaled linearly to 8 bits`;
    if (shown < planeCount) rendering += `; channels ${shown}..${planeCount - 1} are not shown`;
    if (image.sizeZ > 1 || image.sizeT > 1)
      rendering = `${rendering ?? 'RGB'}; plane Z=0, T=0 of ${image.sizeZ} x ${image.sizeT}`;

    return new TiffSlideSource({
      format: 'ome-tiff',
      name: slideName(probe.path),
      file,
      levels,
      mppX: image.mppX ?? image.mppY ?? fallbackMpp?.x ?? null,
      mppY: image.mppY ?? image.mppX ?? fallbackMpp?.y ?? null,
      objectivePower: image.objectivePower,
      associated,
      properties,
      rendering,
      pixels: async (ctx) => {
        if (!win) return ifdPixels(file, base, ctx);
        return renderChannels(file.path, channels, win.windows, ctx);
      },
      scannerTiles: () =>
        !win && !planarRgb && !stretched && image.sizeZ <= 1 && image.sizeT <= 1
          ? scannerTilesOf(file, base)
          : Promise.resolve(null),
    });
  });
}

/** OME-TIFF: pyramids in SubIFDs or pages; RGB, or channels rendered to RGB. */
export const omeTiffReader: SlideReader = {
  id: 'ome-tiff',
  priority: 80,
  async detect(probe) {
    return (await tiffDialect(probe)) === 'ome';
  },
  open: openOme,
};
