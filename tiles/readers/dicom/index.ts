import { open as openFile } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { AssociatedName } from '../../../protocol/index.ts';
import { SlideError, isSlideError } from '../../errors.ts';
import type { PixelContext, Probe, ScannerTiles, SlideReader, SlideSource, SourceLevel } from '../types.ts';
import { assembleLevel, type FrameLayout } from './assemble.ts';
import { SCANNER_TILE_SIDES, lumaSampling } from '../tiff/jpeg-tiles.ts';
import { FileHandles, decodeFrame, inspectJpeg, jpegCoding, standaloneJpeg } from './frames.ts';
import { T, interpretInstance, notWsiReason, type ImageFlavour, type WsiInstance } from './instance.ts';
import { hasDicomMagic, parseDicomFile, type ParsedDicom } from './parse.ts';

/** Folders are probed file by file up to this many; a slide series holds a few dozen at most. */
const MAX_PROBED_FILES = 64;
/** Associated images are small; anything bigger is not worth holding in memory as one PNG. */
const MAX_ASSOCIATED_PIXELS = 64e6;

const ASSOCIATED_FLAVOURS: Record<AssociatedName, ImageFlavour> = {
  label: 'LABEL',
  macro: 'OVERVIEW',
  thumbnail: 'THUMBNAIL',
};

async function readHead(file: string): Promise<Buffer> {
  const fh = await openFile(file, 'r');
  try {
    const buf = Buffer.alloc(132);
    const { bytesRead } = await fh.read(buf, 0, 132, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function dicomFilesIn(files: readonly string[], limit: number): Promise<string[]> {
  const out: string[] = [];
  for (const f of files.slice(0, limit)) {
    try {
      if (hasDicomMagic(await readHead(f))) out.push(f);
    } catch {
      // unreadable entries are not part of the series
    }
  }
  return out;
}

/** One pyramid level: every frame of the VOLUME instance(s) of one size. */
interface DicomLevel extends FrameLayout {
  instances: WsiInstance[];
}

function buildLevels(volumes: WsiInstance[]): DicomLevel[] {
  const bySize = new Map<string, WsiInstance[]>();
  for (const v of volumes) {
    const key = `${v.width}x${v.height}`;
    bySize.set(key, [...(bySize.get(key) ?? []), v]);
  }
  const levels: DicomLevel[] = [];
  for (const group of bySize.values()) {
    group.sort((a, b) => a.instanceNumber - b.instanceNumber);
    const head = group[0]!;
    // Several instances of one size are either parts of one concatenation or other focal planes /
    // optical paths of the same level: only the concatenation of the first one is read.
    const parts = head.concatenationUid
      ? group.filter((g) => g.concatenationUid === head.concatenationUid)
      : [head];
    levels.push({
      width: head.width,
      height: head.height,
      tileWidth: head.tileWidth,
      tileHeight: head.tileHeight,
      frames: parts.flatMap((p) => p.placed),
      instances: parts,
    });
  }
  return levels.sort((a, b) => b.width * b.height - a.width * a.height);
}

function nameOf(probe: Probe): string {
  const base = path.basename(probe.path.replace(/[\\/]+$/, ''));
  return probe.isDirectory ? base : base.replace(/\.[^.]*$/, '') || base;
}

class DicomSlide implements SlideSource {
  readonly format = 'dicom' as const;
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly levels: readonly SourceLevel[];
  readonly mppX: number | null;
  readonly mppY: number | null;
  readonly objectivePower: number | null;
  readonly associated: readonly AssociatedName[];
  readonly properties: Readonly<Record<string, string>>;
  readonly rendering: string | null;
  private readonly files = new FileHandles();

  constructor(
    name: string,
    private readonly pyramid: DicomLevel[],
    private readonly extras: Map<AssociatedName, WsiInstance>,
  ) {
    const base = pyramid[0]!;
    const head = base.instances[0]!;
    this.name = name;
    this.width = base.width;
    this.height = base.height;
    this.levels = pyramid.map((l) => ({
      width: l.width,
      height: l.height,
      downsample: base.width / l.width,
      tileWidth: l.tileWidth,
      tileHeight: l.tileHeight,
    }));
    this.mppX = head.mppX;
    this.mppY = head.mppY;
    this.objectivePower =
      head.objectivePower ??
      pyramid.flatMap((l) => l.instances).find((i) => i.objectivePower)?.objectivePower ??
      null;
    this.associated = [...extras.keys()];
    this.rendering = head.samplesPerPixel === 1 ? 'greyscale (single sample) copied to R, G and B' : null;
    this.properties = propertiesOf(head);
  }

  pixels(ctx: PixelContext): Promise<Sharp> {
    return assembleLevel(this.pyramid[0]!, this.files, ctx);
  }

  /**
   * Level 0's JPEG Baseline frames, when they tile it as a full grid of square frames the store can
   * keep (each frame a complete JPEG stream, kept as it is).
   */
  async scannerTiles(): Promise<ScannerTiles | null> {
    const level = this.pyramid[0]!;
    const side = level.tileWidth;
    const head = level.instances[0]!;
    if (level.tileHeight !== side || side < SCANNER_TILE_SIDES.min || side > SCANNER_TILE_SIDES.max)
      return null;
    if (side % SCANNER_TILE_SIDES.multiple !== 0) return null;
    if (level.instances.some((i) => i.codec !== 'jpeg' || i.samplesPerPixel !== 3)) return null;
    const cols = Math.ceil(level.width / side);
    const rows = Math.ceil(level.height / side);
    const grid = new Array<(typeof level.frames)[number] | undefined>(cols * rows);
    for (const f of level.frames) {
      if (f.x % side || f.y % side || f.x < 0 || f.y < 0) return null;
      const i = (f.y / side) * cols + f.x / side;
      if (f.x / side >= cols || f.y / side >= rows || grid[i]) return null;
      grid[i] = f;
    }
    if (grid.some((f) => !f) || grid.length !== cols * rows) return null;
    const first = await this.files.frame(grid[0]!.instance, grid[0]!.index);
    const info = inspectJpeg(first);
    if (!info || info.components !== 3) return null;
    const coding = jpegCoding(info, head.photometric);
    if (coding !== 'rgb' && coding !== 'ycbcr') return null;
    return {
      tileSize: side,
      colour: coding,
      subsampling: coding === 'rgb' ? [1, 1] : (lumaSampling(first) ?? [2, 1]),
      tables: null,
      tile: async (col, row) => {
        const f = grid[row * cols + col]!;
        return { bytes: await this.files.frame(f.instance, f.index), key: `${f.instance.file}#${f.index}` };
      },
    };
  }

  async associatedImage(name: AssociatedName): Promise<Buffer | null> {
    const inst = this.extras.get(name);
    if (!inst) return null;
    const placed = inst.placed;
    const whole = placed.length === 1 && placed[0]!.x === 0 && placed[0]!.y === 0;
    if (whole && inst.codec === 'jpeg' && inst.tileWidth === inst.width && inst.tileHeight === inst.height) {
      return standaloneJpeg(await this.files.frame(inst, 0), inst.photometric);
    }
    if (inst.width * inst.height > MAX_ASSOCIATED_PIXELS) {
      throw new SlideError(
        'IMAGE_TOO_LARGE',
        `DICOM ${name} image is ${inst.width} x ${inst.height}, too large to extract`,
      );
    }
    const canvas = Buffer.alloc(inst.width * inst.height * 3, 255);
    for (const f of placed) {
      const rgb = await decodeFrame(inst, await this.files.frame(inst, f.index));
      const x1 = Math.min(inst.width, f.x + inst.tileWidth);
      for (let y = Math.max(0, f.y); y < Math.min(inst.height, f.y + inst.tileHeight); y++) {
        const s = ((y - f.y) * inst.tileWidth + (Math.max(0, f.x) - f.x)) * 3;
        rgb.copy(canvas, (y * inst.width + Math.max(0, f.x)) * 3, s, s + (x1 - Math.max(0, f.x)) * 3);
      }
    }
    return sharp(canvas, { raw: { width: inst.width, height: inst.height, channels: 3 } })
      .png()
      .toBuffer();
  }

  close(): Promise<void> {
    return this.files.close();
  }
}

function propertiesOf(inst: WsiInstance): Record<string, string> {
  const ds = inst.parsed.dataset;
  const props: Record<string, string> = {};
  const put = (key: string, value: string | null | undefined): void => {
    if (value) props[`dicom.${key}`] = value;
  };
  put('Manufacturer', ds.string(T.Manufacturer));
  put('ManufacturerModelName', ds.string(T.ManufacturerModelName));
  put('DeviceSerialNumber', ds.string(T.DeviceSerialNumber));
  put('SoftwareVersions', ds.strings(T.SoftwareVersions).join('\\'));
  put('StudyInstanceUID', ds.string(T.StudyInstanceUID));
  put('SeriesInstanceUID', ds.string(T.SeriesInstanceUID));
  put('ContainerIdentifier', ds.string(T.ContainerIdentifier));
  put('ImageType', ds.strings(T.ImageType).join('\\'));
  put('TransferSyntaxUID', inst.parsed.transferSyntax);
  put('TransferSyntax', inst.transferSyntaxName);
  put('PhotometricInterpretation', inst.photometric);
  put('DimensionOrganizationType', ds.string(T.DimensionOrganizationType));
  put('TotalPixelMatrix', `${inst.width}x${inst.height}`);
  put('FrameSize', `${inst.tileWidth}x${inst.tileHeight}`);
  put('NumberOfFrames', String(inst.frameCount));
  if (inst.mppX !== null) put('mpp-x', String(inst.mppX));
  if (inst.mppY !== null) put('mpp-y', String(inst.mppY));
  if (inst.objectivePower !== null) put('ObjectiveLensPower', String(inst.objectivePower));
  return props;
}

/** The first line of an unexpected error, for a one-line message. */
function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
}

async function openSlide(probe: Probe): Promise<SlideSource> {
  const candidates = probe.isDirectory ? await dicomFilesIn(probe.files, probe.files.length) : [probe.path];
  if (candidates.length === 0) {
    throw new SlideError('UNSUPPORTED_FORMAT', `${path.basename(probe.path)} holds no DICOM files`);
  }
  const parsed: ParsedDicom[] = [];
  for (const file of candidates) parsed.push(await parseDicomFile(file));

  const notSlides: string[] = [];
  const instances: WsiInstance[] = [];
  for (const p of parsed) {
    const reason = notWsiReason(p);
    if (reason) notSlides.push(reason);
    else instances.push(interpretInstance(p));
  }
  const volumes = instances.filter((i) => i.flavour === 'VOLUME');
  if (volumes.length === 0) {
    if (instances.length > 0) {
      throw new SlideError(
        'UNSUPPORTED_FORMAT',
        `${path.basename(probe.path)} holds only ${[...new Set(instances.map((i) => i.flavour))].join('/')} whole-slide images, no VOLUME pyramid`,
      );
    }
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      notSlides[0] ?? `${path.basename(probe.path)} is not a DICOM whole-slide image`,
    );
  }
  // A folder may hold several slides' series: read the one with the largest level.
  const largest = volumes.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
  const series = instances.filter((i) => i.seriesUid === largest.seriesUid);
  const study = largest.parsed.dataset.string(T.StudyInstanceUID);
  const pyramid = buildLevels(series.filter((i) => i.flavour === 'VOLUME'));

  const extras = new Map<AssociatedName, WsiInstance>();
  for (const [name, flavour] of Object.entries(ASSOCIATED_FLAVOURS) as [AssociatedName, ImageFlavour][]) {
    // Label and overview sometimes travel in their own series of the same study.
    const pick =
      series.find((i) => i.flavour === flavour) ??
      instances.find(
        (i) =>
          i.flavour === flavour && study !== null && i.parsed.dataset.string(T.StudyInstanceUID) === study,
      );
    if (pick) extras.set(name, pick);
  }
  return new DicomSlide(nameOf(probe), pyramid, extras);
}

/** Reads DICOM VL Whole Slide Microscopy series (a folder of instances) or a single instance file. */
export const dicomReader: SlideReader = {
  id: 'dicom',
  priority: 60,
  async detect(probe: Probe): Promise<boolean> {
    try {
      if (!probe.isDirectory) return hasDicomMagic(probe.head);
      if (hasDicomMagic(probe.head)) return true;
      return (await dicomFilesIn(probe.files, MAX_PROBED_FILES)).length > 0;
    } catch {
      return false;
    }
  },
  async open(probe: Probe): Promise<SlideSource> {
    try {
      return await openSlide(probe);
    } catch (e) {
      if (isSlideError(e)) throw e;
      throw new SlideError(
        'CORRUPT_FILE',
        `${path.basename(probe.path)}: unreadable DICOM (${firstLine(e)})`,
        {
          cause: e,
        },
      );
    }
  },
};
