import type { AssociatedName } from '../../../protocol/index.ts';
import type { Probe, SlideReader, SlideSource } from '../types.ts';
import { checkSlideSize, levelOf, parseNumber, positiveOrNull, resolutionMpp, slideName } from './common.ts';
import { scannerTilesOf } from './jpeg-tiles.ts';
import { ifdPixels } from './pixels.ts';
import { MAX_OWN_COLOUR_CHANNELS, MAX_PALETTE_CHANNELS, channelColors } from './ome.ts';
import {
  channelWindows,
  checkChannelPlane,
  describeRendering,
  renderChannels,
  type Channel,
  type Rgb,
} from './render.ts';
import { tiffDialect } from './sniff.ts';
import { TiffSlideSource, withFile } from './source.ts';
import { TiffFile, Ifd } from '../../tiff/file.ts';
import { child, descendants, parseXml, type XmlElement } from './xml.ts';

/** What one page of a QPTIFF is, from its PerkinElmer-QPI-ImageDescription. */
export interface QptiffPage {
  ifd: Ifd;
  /** FullResolution, ReducedResolution, Thumbnail, Overview, Label ('' when the page has no XML). */
  type: string;
  xml: XmlElement | null;
}

function text(el: XmlElement | null | undefined, name: string): string {
  return (el ? child(el, name)?.text : undefined) ?? '';
}

/** "0,0,255" -> [0, 0, 255]. */
export function qptiffColor(s: string): Rgb | null {
  const parts = s.split(',').map((v) => Number(v.trim()));
  if (parts.length !== 3 || parts.some((v) => !Number.isInteger(v) || v < 0 || v > 255)) return null;
  return parts as Rgb;
}

/**
 * Classify pages. Pages without XML take the type implied by their place: same size as page 0 while
 * the run of full-resolution pages lasts, then reduced resolution while they shrink.
 */
export function qptiffPages(file: TiffFile): QptiffPage[] {
  const first = file.ifds[0];
  let inFull = true;
  return file.ifds.map((ifd) => {
    const xml = ifd.description.includes('<PerkinElmer-QPI-ImageDescription')
      ? parseXml(ifd.description)
      : null;
    let type = text(xml, 'ImageType');
    if (!type) {
      const full = inFull && first !== undefined && ifd.width === first.width && ifd.height === first.height;
      type = full ? 'FullResolution' : '';
    }
    if (type !== 'FullResolution') inFull = false;
    return { ifd, type, xml };
  });
}

async function openQptiff(probe: Probe): Promise<SlideSource> {
  const file = await TiffFile.open(probe.path);
  return withFile(file, async () => {
    const pages = qptiffPages(file);
    const full = pages.filter((p) => p.type === 'FullResolution');
    const base = full[0]?.ifd;
    if (!base) throw file.corrupt('no full-resolution page');
    checkSlideSize(file.name, base.width, base.height);
    for (const p of full) {
      if (p.ifd.width !== base.width || p.ifd.height !== base.height) {
        throw file.corrupt(
          `full-resolution page ${p.ifd.index} is ${p.ifd.width}x${p.ifd.height}, page 0 ${base.width}x${base.height}`,
        );
      }
    }
    const rgb = base.samplesPerPixel >= 3;
    const channelPages = rgb ? full.slice(0, 1) : full;
    const { colors, own } = channelColors(
      channelPages.map((p) => qptiffColor(text(p.xml, 'Color'))),
      channelPages.length,
    );
    const shown = Math.min(channelPages.length, own ? MAX_OWN_COLOUR_CHANNELS : MAX_PALETTE_CHANNELS);

    // Reduced levels come as runs of one page per channel, each run half the size of the one before.
    const reduced = pages.filter((p) => p.type === 'ReducedResolution').map((p) => p.ifd);
    const perLevel = channelPages.length;
    const channels: Channel[] = channelPages.slice(0, shown).map((p, c) => ({
      name: text(p.xml, 'Name') || `channel ${c}`,
      color: colors[c] ?? [255, 255, 255],
      planes: [p.ifd],
    }));
    for (let at = 0; at + perLevel <= reduced.length; at += perLevel) {
      const run = reduced.slice(at, at + perLevel);
      const prev = channels[0]!.planes[channels[0]!.planes.length - 1]!;
      const first = run[0]!;
      if (run.some((r) => r.width !== first.width || r.height !== first.height) || first.width >= prev.width)
        break;
      channels.forEach((ch, c) => ch.planes.push(run[c]!));
    }
    for (const ch of channels) {
      if (!rgb) checkChannelPlane(file.name, ch.planes[0]!);
      await Ifd.checkAll(ch.planes.map((ifd, k) => [ifd, `level ${k} of ${ch.name}`] as const));
    }

    const associated = new Map<AssociatedName, Ifd>();
    const roles: Record<string, AssociatedName> = {
      Thumbnail: 'thumbnail',
      Overview: 'macro',
      Label: 'label',
    };
    for (const p of pages) {
      const role = roles[p.type];
      if (role && !associated.has(role)) {
        await p.ifd.checkData(`the ${role} image`);
        associated.set(role, p.ifd);
      }
    }

    const head = full[0]?.xml ?? null;
    const properties: Record<string, string> = {};
    for (const key of [
      'DescriptionVersion',
      'AcquisitionSoftware',
      'Identifier',
      'SlideID',
      'Barcode',
      'Objective',
      'CameraName',
    ]) {
      const v = text(head, key);
      if (v) properties[`qptiff.${key}`] = v;
    }
    channelPages.forEach((p, c) => {
      for (const key of ['Name', 'Color', 'ExposureTime', 'SignalUnits']) {
        const v = text(p.xml, key);
        if (v) properties[`qptiff.Channel.${c}.${key}`] = v;
      }
    });

    const res = resolutionMpp(base);
    // The scan profile's pixel size is the nominal one; the resolution tags carry the calibrated value.
    const nominal = positiveOrNull(
      parseNumber(head ? descendants(head, 'PixelSizeMicrons')[0]?.text : undefined),
    );
    const objective = positiveOrNull(
      parseNumber(/^\s*\d+(\.\d+)?\s*x\s*$/i.test(text(head, 'Objective')) ? text(head, 'Objective') : null),
    );

    const win = rgb ? null : await channelWindows(file.path, channels);
    let rendering = win ? describeRendering(channels, win.windows, win.from) : null;
    if (shown < channelPages.length)
      rendering += `; channels ${shown}..${channelPages.length - 1} are not shown`;

    return new TiffSlideSource({
      format: 'qptiff',
      name: slideName(probe.path),
      file,
      levels: channels[0]!.planes.map((ifd) => levelOf(ifd, base.width)),
      mppX: res.x ?? nominal,
      mppY: res.y ?? nominal,
      objectivePower: objective,
      associated,
      properties,
      rendering,
      pixels: async (ctx) => {
        if (!win) return ifdPixels(file, base, ctx);
        return renderChannels(file.path, channels, win.windows, ctx);
      },
      scannerTiles: () => (!win ? scannerTilesOf(file, base) : Promise.resolve(null)),
    });
  });
}

/** PerkinElmer / Akoya Vectra and Polaris QPTIFF: multiplex fluorescence or brightfield RGB. */
export const qptiffReader: SlideReader = {
  id: 'qptiff',
  priority: 80,
  async detect(probe) {
    return (await tiffDialect(probe)) === 'qptiff';
  },
  open: openQptiff,
};
