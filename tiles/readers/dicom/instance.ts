import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { SlideError } from '../../errors.ts';
import {
  TS_EXPLICIT_LE,
  TS_IMPLICIT_LE,
  tag,
  type DicomDataset,
  type Fragment,
  type ParsedDicom,
} from './parse.ts';

export const WSI_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.6';

/** Same limits as the other readers: beyond these a conversion cannot finish on any machine we run. */
export const MAX_SLIDE_PIXELS = 2e11;
export const MAX_SLIDE_SIDE = 1e6;

export const T = {
  ImageType: tag(0x0008, 0x0008),
  SOPClassUID: tag(0x0008, 0x0016),
  Modality: tag(0x0008, 0x0060),
  Manufacturer: tag(0x0008, 0x0070),
  ManufacturerModelName: tag(0x0008, 0x1090),
  DeviceSerialNumber: tag(0x0018, 0x1000),
  SoftwareVersions: tag(0x0018, 0x1020),
  StudyInstanceUID: tag(0x0020, 0x000d),
  SeriesInstanceUID: tag(0x0020, 0x000e),
  InstanceNumber: tag(0x0020, 0x0013),
  ConcatenationUID: tag(0x0020, 0x9161),
  ConcatenationFrameOffsetNumber: tag(0x0020, 0x9228),
  DimensionOrganizationType: tag(0x0020, 0x9311),
  SamplesPerPixel: tag(0x0028, 0x0002),
  PhotometricInterpretation: tag(0x0028, 0x0004),
  PlanarConfiguration: tag(0x0028, 0x0006),
  NumberOfFrames: tag(0x0028, 0x0008),
  Rows: tag(0x0028, 0x0010),
  Columns: tag(0x0028, 0x0011),
  PixelSpacing: tag(0x0028, 0x0030),
  BitsAllocated: tag(0x0028, 0x0100),
  PixelRepresentation: tag(0x0028, 0x0103),
  PixelMeasuresSequence: tag(0x0028, 0x9110),
  ContainerIdentifier: tag(0x0040, 0x0512),
  ZOffsetInSlideCoordinateSystem: tag(0x0040, 0x074a),
  ImagedVolumeWidth: tag(0x0048, 0x0001),
  ImagedVolumeHeight: tag(0x0048, 0x0002),
  TotalPixelMatrixColumns: tag(0x0048, 0x0006),
  TotalPixelMatrixRows: tag(0x0048, 0x0007),
  OpticalPathSequence: tag(0x0048, 0x0105),
  OpticalPathIdentifier: tag(0x0048, 0x0106),
  ObjectiveLensPower: tag(0x0048, 0x0112),
  OpticalPathIdentificationSequence: tag(0x0048, 0x0207),
  PlanePositionSlideSequence: tag(0x0048, 0x021a),
  ColumnPositionInTotalImagePixelMatrix: tag(0x0048, 0x021e),
  RowPositionInTotalImagePixelMatrix: tag(0x0048, 0x021f),
  SharedFunctionalGroupsSequence: tag(0x5200, 0x9229),
  PerFrameFunctionalGroupsSequence: tag(0x5200, 0x9230),
  ExtendedOffsetTable: tag(0x7fe0, 0x0001),
  ExtendedOffsetTableLengths: tag(0x7fe0, 0x0002),
} as const;

const SOP_CLASS_NAMES: Record<string, string> = {
  '1.2.840.10008.5.1.4.1.1.1': 'CR',
  '1.2.840.10008.5.1.4.1.1.2': 'CT',
  '1.2.840.10008.5.1.4.1.1.4': 'MR',
  '1.2.840.10008.5.1.4.1.1.6.1': 'ultrasound',
  '1.2.840.10008.5.1.4.1.1.7': 'secondary capture',
  '1.2.840.10008.5.1.4.1.1.1.2': 'mammography',
  '1.2.840.10008.5.1.4.1.1.77.1.2': 'VL microscopic',
  '1.2.840.10008.5.1.4.1.1.77.1.3': 'VL slide-coordinates microscopic',
  '1.2.840.10008.5.1.4.1.1.88.11': 'structured report',
};

export type Codec = 'jpeg' | 'j2k' | 'native';

const TRANSFER_SYNTAXES: Record<string, { codec: Codec; name: string } | { unsupported: string }> = {
  [TS_IMPLICIT_LE]: { codec: 'native', name: 'Implicit VR Little Endian' },
  [TS_EXPLICIT_LE]: { codec: 'native', name: 'Explicit VR Little Endian' },
  '1.2.840.10008.1.2.4.50': { codec: 'jpeg', name: 'JPEG Baseline' },
  '1.2.840.10008.1.2.4.51': { codec: 'jpeg', name: 'JPEG Extended' },
  '1.2.840.10008.1.2.4.90': { codec: 'j2k', name: 'JPEG 2000 (lossless)' },
  '1.2.840.10008.1.2.4.91': { codec: 'j2k', name: 'JPEG 2000' },
  '1.2.840.10008.1.2.4.201': { codec: 'j2k', name: 'HTJ2K (lossless)' },
  '1.2.840.10008.1.2.4.202': { codec: 'j2k', name: 'HTJ2K (lossless RPCL)' },
  '1.2.840.10008.1.2.4.203': { codec: 'j2k', name: 'HTJ2K' },
  '1.2.840.10008.1.2.4.57': { unsupported: 'JPEG Lossless' },
  '1.2.840.10008.1.2.4.70': { unsupported: 'JPEG Lossless SV1' },
  '1.2.840.10008.1.2.4.80': { unsupported: 'JPEG-LS lossless' },
  '1.2.840.10008.1.2.4.81': { unsupported: 'JPEG-LS' },
  '1.2.840.10008.1.2.5': { unsupported: 'RLE Lossless' },
  '1.2.840.10008.1.2.4.110': { unsupported: 'JPEG XL (lossless)' },
  '1.2.840.10008.1.2.4.111': { unsupported: 'JPEG XL (recompressed JPEG)' },
  '1.2.840.10008.1.2.4.112': { unsupported: 'JPEG XL' },
};

export type ImageFlavour = 'VOLUME' | 'LABEL' | 'OVERVIEW' | 'THUMBNAIL' | 'OTHER';

/** A frame placed in the total pixel matrix (0-based top-left corner). */
export interface PlacedFrame {
  x: number;
  y: number;
  instance: WsiInstance;
  index: number;
}

/** One VL Whole Slide Microscopy instance: geometry, pixel encoding and where its frames are. */
export interface WsiInstance {
  file: string;
  parsed: ParsedDicom;
  flavour: ImageFlavour;
  seriesUid: string;
  concatenationUid: string | null;
  instanceNumber: number;
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  samplesPerPixel: number;
  photometric: string;
  planarConfiguration: number;
  codec: Codec;
  transferSyntaxName: string;
  frameCount: number;
  mppX: number | null;
  mppY: number | null;
  objectivePower: number | null;
  /** Frames of the first focal plane and optical path, with their positions. */
  placed: PlacedFrame[];
  /** Byte ranges of each frame (several for a frame split into fragments). */
  frames: Fragment[][];
}

function basename(file: string): string {
  return path.basename(file);
}

/** Why a DICOM file cannot be a slide, or null when its SOP class is VL Whole Slide Microscopy. */
export function notWsiReason(parsed: ParsedDicom): string | null {
  const sop = parsed.dataset.string(T.SOPClassUID) ?? parsed.meta.string(tag(0x0002, 0x0002));
  if (sop === WSI_SOP_CLASS) return null;
  const kind = (sop && SOP_CLASS_NAMES[sop]) ?? parsed.dataset.string(T.Modality) ?? 'non-slide';
  return `${basename(parsed.file)} is a ${kind} DICOM object (SOP class ${sop ?? 'missing'}), not a VL Whole Slide Microscopy image`;
}

function flavourOf(ds: DicomDataset): ImageFlavour {
  const type = ds.strings(T.ImageType)[2]?.toUpperCase();
  if (type === 'VOLUME' || type === 'LABEL' || type === 'OVERVIEW' || type === 'THUMBNAIL') return type;
  // Some writers leave the third value empty on the pyramid itself.
  return type === undefined || type === '' ? 'VOLUME' : 'OTHER';
}

/** mm to µm, without the binary noise of the multiplication (0.016783 mm is 16.783 µm, not 16.782999…). */
function toMicrons(mm: number): number {
  return Number((mm * 1000).toPrecision(12));
}

function positive(n: number | null): number | null {
  return n !== null && Number.isFinite(n) && n > 0 ? n : null;
}

/** Interpret a parsed VL WSI file; throws a SlideError for anything this reader cannot display. */
export function interpretInstance(parsed: ParsedDicom): WsiInstance {
  const { dataset: ds, file } = parsed;
  const name = basename(file);
  const flavour = flavourOf(ds);
  const rows = ds.number(T.Rows);
  const columns = ds.number(T.Columns);
  if (!rows || !columns) throw new SlideError('CORRUPT_FILE', `DICOM file ${name} has no Rows/Columns`);
  const width = ds.number(T.TotalPixelMatrixColumns) ?? columns;
  const height = ds.number(T.TotalPixelMatrixRows) ?? rows;
  if (width <= 0 || height <= 0)
    throw new SlideError('CORRUPT_FILE', `DICOM file ${name} has an empty pixel matrix`);
  if (width > MAX_SLIDE_SIDE || height > MAX_SLIDE_SIDE || width * height > MAX_SLIDE_PIXELS) {
    throw new SlideError(
      'IMAGE_TOO_LARGE',
      `DICOM file ${name} claims ${width} x ${height} pixels, beyond the limit of ${MAX_SLIDE_PIXELS} pixels or ${MAX_SLIDE_SIDE} a side`,
    );
  }

  const ts = TRANSFER_SYNTAXES[parsed.transferSyntax];
  if (!ts || 'unsupported' in ts) {
    const label =
      ts && 'unsupported' in ts ? `${ts.unsupported} (${parsed.transferSyntax})` : parsed.transferSyntax;
    throw new SlideError('UNSUPPORTED_FORMAT', `DICOM transfer syntax ${label} is not supported (${name})`);
  }
  const samplesPerPixel = ds.number(T.SamplesPerPixel) ?? 1;
  const photometric = (
    ds.string(T.PhotometricInterpretation) ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2')
  ).toUpperCase();
  const bitsAllocated = ds.number(T.BitsAllocated) ?? 8;
  if (bitsAllocated !== 8 || (samplesPerPixel !== 1 && samplesPerPixel !== 3)) {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `DICOM file ${name}: ${samplesPerPixel} sample(s) of ${bitsAllocated} bits per pixel is not supported (8-bit grey or colour only)`,
    );
  }
  if (samplesPerPixel === 1 && photometric !== 'MONOCHROME2' && photometric !== 'MONOCHROME1') {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `DICOM file ${name}: photometric interpretation ${photometric} is not supported`,
    );
  }
  if (samplesPerPixel === 3 && ts.codec === 'native' && photometric !== 'RGB' && photometric !== 'YBR_FULL') {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `DICOM file ${name}: uncompressed ${photometric} pixels are not supported`,
    );
  }

  const frameCount = ds.number(T.NumberOfFrames) ?? 1;
  if (!Number.isInteger(frameCount) || frameCount < 1) {
    throw new SlideError('CORRUPT_FILE', `DICOM file ${name} has an invalid NumberOfFrames`);
  }
  const frames = locateFrames(parsed, frameCount, columns * rows * samplesPerPixel, ts.codec);

  const measures =
    ds.first(T.SharedFunctionalGroupsSequence, T.PixelMeasuresSequence) ??
    ds.first(T.PerFrameFunctionalGroupsSequence, T.PixelMeasuresSequence);
  const spacing = measures?.numbers(T.PixelSpacing) ?? ds.numbers(T.PixelSpacing);
  // PixelSpacing is row spacing (vertical) then column spacing (horizontal), in mm.
  let mppY = positive(spacing[0] !== undefined ? toMicrons(spacing[0]) : null);
  let mppX = positive(spacing[1] !== undefined ? toMicrons(spacing[1]) : null);
  if (mppX === null) {
    const w = positive(ds.number(T.ImagedVolumeWidth));
    const h = positive(ds.number(T.ImagedVolumeHeight));
    mppX = w ? toMicrons(w / width) : null;
    mppY = h ? toMicrons(h / height) : mppX;
  }
  mppY ??= mppX;

  const objectivePower =
    ds
      .items(T.OpticalPathSequence)
      .map((p) => positive(p.number(T.ObjectiveLensPower)))
      .find((p) => p !== null) ?? null;

  const instance: WsiInstance = {
    file,
    parsed,
    flavour,
    seriesUid: ds.string(T.SeriesInstanceUID) ?? '',
    concatenationUid: ds.string(T.ConcatenationUID),
    instanceNumber: ds.number(T.InstanceNumber) ?? 0,
    width,
    height,
    tileWidth: columns,
    tileHeight: rows,
    samplesPerPixel,
    photometric,
    planarConfiguration: ds.number(T.PlanarConfiguration) ?? 0,
    codec: ts.codec,
    transferSyntaxName: ts.name,
    frameCount,
    mppX,
    mppY,
    objectivePower,
    placed: [],
    frames,
  };
  instance.placed = placeFrames(instance);
  return instance;
}

/**
 * Group fragments into frames. Preference: Extended Offset Table, Basic Offset Table, one fragment
 * per frame, then (JPEG only) a new frame at every fragment that starts with an SOI marker.
 */
function locateFrames(
  parsed: ParsedDicom,
  frameCount: number,
  nativeFrameBytes: number,
  codec: Codec,
): Fragment[][] {
  const name = basename(parsed.file);
  const px = parsed.pixelData;
  if (!px) throw new SlideError('CORRUPT_FILE', `DICOM file ${name} has no pixel data`);
  if (!px.encapsulated) {
    if (codec !== 'native')
      throw new SlideError(
        'CORRUPT_FILE',
        `DICOM file ${name}: compressed transfer syntax but native pixel data`,
      );
    if (px.length < frameCount * nativeFrameBytes) {
      throw new SlideError(
        'TRUNCATED_FILE',
        `DICOM file ${name} holds ${px.length} bytes of pixel data, ${frameCount} frames need ${frameCount * nativeFrameBytes}`,
      );
    }
    return Array.from({ length: frameCount }, (_, i) => [
      { offset: px.offset + i * nativeFrameBytes, length: nativeFrameBytes },
    ]);
  }
  if (codec === 'native')
    throw new SlideError(
      'CORRUPT_FILE',
      `DICOM file ${name}: native transfer syntax but encapsulated pixel data`,
    );
  const { fragments } = px;
  if (fragments.length === 0)
    throw new SlideError('CORRUPT_FILE', `DICOM file ${name} has no pixel data fragments`);
  const first = fragments[0]!.offset - 8;

  const eot = parsed.dataset.numbers(T.ExtendedOffsetTable);
  const eotLengths = parsed.dataset.numbers(T.ExtendedOffsetTableLengths);
  if (eot.length === frameCount && eotLengths.length === frameCount) {
    // Offsets point at item headers; the frame itself is the item's value.
    return eot.map((o, i) => [{ offset: first + o + 8, length: eotLengths[i]! }]);
  }
  const bot = px.basicOffsetTable;
  if (bot.length === frameCount && frameCount > 1) {
    const out: Fragment[][] = bot.map(() => []);
    let f = 0;
    for (const frag of fragments) {
      const rel = frag.offset - 8 - first;
      while (f + 1 < bot.length && rel >= bot[f + 1]!) f++;
      out[f]!.push(frag);
    }
    if (out.every((fr) => fr.length > 0)) return out;
  }
  if (fragments.length === frameCount) return fragments.map((f) => [f]);
  if (frameCount === 1) return [fragments];
  if (codec === 'jpeg' && fragments.length > frameCount) {
    const out: Fragment[][] = [];
    const fd = openSync(parsed.file, 'r');
    try {
      const two = Buffer.alloc(2);
      for (const frag of fragments) {
        readSync(fd, two, 0, 2, frag.offset);
        if ((two[0] === 0xff && two[1] === 0xd8) || out.length === 0) out.push([frag]);
        else out[out.length - 1]!.push(frag);
      }
    } finally {
      closeSync(fd);
    }
    if (out.length === frameCount) return out;
  }
  throw new SlideError(
    fragments.length < frameCount ? 'TRUNCATED_FILE' : 'CORRUPT_FILE',
    `DICOM file ${name} declares ${frameCount} frames but its pixel data holds ${fragments.length} fragments`,
  );
}

/**
 * Position every frame in the total pixel matrix. TILED_FULL instances (the default) store frames
 * row-major with focal planes and optical paths after each other, so the first tilesX * tilesY frames
 * are one complete plane; otherwise the per-frame plane positions say where each frame goes, and only
 * frames of the first frame's focal plane and optical path are kept.
 */
function placeFrames(inst: WsiInstance): PlacedFrame[] {
  const ds = inst.parsed.dataset;
  const perFrame = ds.items(T.PerFrameFunctionalGroupsSequence);
  const organisation = ds.string(T.DimensionOrganizationType)?.toUpperCase() ?? null;
  const hasPositions = perFrame.length > 0 && perFrame[0]!.first(T.PlanePositionSlideSequence) !== null;
  const name = basename(inst.file);

  if (organisation === 'TILED_FULL' || !hasPositions) {
    const tilesX = Math.ceil(inst.width / inst.tileWidth);
    const tilesY = Math.ceil(inst.height / inst.tileHeight);
    const offset = ds.number(T.ConcatenationFrameOffsetNumber) ?? 0;
    const out: PlacedFrame[] = [];
    for (let local = 0; local < inst.frameCount; local++) {
      const i = offset + local;
      if (i >= tilesX * tilesY) break;
      out.push({
        x: (i % tilesX) * inst.tileWidth,
        y: Math.floor(i / tilesX) * inst.tileHeight,
        instance: inst,
        index: local,
      });
    }
    if (offset === 0 && out.length < tilesX * tilesY && !inst.concatenationUid) {
      throw new SlideError(
        'CORRUPT_FILE',
        `DICOM file ${name} has ${inst.frameCount} frames, its ${tilesX} x ${tilesY} tile grid needs ${tilesX * tilesY}`,
      );
    }
    return out;
  }

  if (perFrame.length !== inst.frameCount) {
    throw new SlideError(
      'CORRUPT_FILE',
      `DICOM file ${name} has ${perFrame.length} per-frame functional groups for ${inst.frameCount} frames`,
    );
  }
  const planeKey = (item: DicomDataset): string => {
    const z = item.first(T.PlanePositionSlideSequence)?.number(T.ZOffsetInSlideCoordinateSystem) ?? '';
    const op = item.first(T.OpticalPathIdentificationSequence)?.string(T.OpticalPathIdentifier) ?? '';
    return `${z}|${op}`;
  };
  const wanted = planeKey(perFrame[0]!);
  const out: PlacedFrame[] = [];
  perFrame.forEach((item, index) => {
    if (planeKey(item) !== wanted) return;
    const pos = item.first(T.PlanePositionSlideSequence);
    const col = pos?.number(T.ColumnPositionInTotalImagePixelMatrix);
    const row = pos?.number(T.RowPositionInTotalImagePixelMatrix);
    if (col == null || row == null) {
      throw new SlideError(
        'CORRUPT_FILE',
        `DICOM file ${name}: frame ${index + 1} has no position in the pixel matrix`,
      );
    }
    // Positions are 1-based.
    out.push({ x: col - 1, y: row - 1, instance: inst, index });
  });
  return out;
}
