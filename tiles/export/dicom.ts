import { createRequire } from 'node:module';
import { SlideError } from '../errors.ts';
import { StoredSlide } from '../serve/stored-slide.ts';
import { SLIDE_FILE, type SlideStore, readStoredFile } from '../store/types.ts';
import {
  type Dataset,
  type DicomExportOptions,
  JPEG_BASELINE,
  type SeriesContext,
  type SeriesInstance,
  associatedPlan,
  checkBaseline,
  instanceDataset,
  levelPlan,
  seriesContext,
  seriesInstances,
  toArrayBuffer,
} from './dicom-attributes.ts';
import { jpegFrameInfo } from './jpeg-frame.ts';
import { stableUid } from './uids.ts';

export {
  JPEG_BASELINE,
  WSI_SOP_CLASS,
  type DicomExportOptions,
  type DicomSubject,
} from './dicom-attributes.ts';

const IMPLEMENTATION_CLASS_UID = stableUid('tessera', 'implementation-class');
const IMPLEMENTATION_VERSION = 'TESSERA_01';

/** One exported instance: a Part 10 file. */
export interface DicomInstanceFile {
  /** File name inside the export (`level-0.dcm`, `label.dcm`, `overview.dcm`). */
  name: string;
  /** VOLUME level k, LABEL or OVERVIEW. */
  kind: 'VOLUME' | 'LABEL' | 'OVERVIEW';
  sopInstanceUid: string;
  data: Buffer;
}

interface DcmjsData {
  DicomMetaDictionary: {
    denaturalizeDataset(ds: Record<string, unknown>): Record<string, unknown>;
  };
  DicomDict: new (meta: Record<string, unknown>) => {
    dict: Record<string, unknown>;
    write(opts?: object): ArrayBuffer;
  };
}
// dcmjs ships no type declarations: the few calls used here are typed above.
const dcmjs = createRequire(import.meta.url)('dcmjs') as { data: DcmjsData };

function writePart10(ds: Dataset, frames: Buffer[]): Buffer {
  const { DicomMetaDictionary: D, DicomDict } = dcmjs.data;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ds.SOPClassUID,
    MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
    TransferSyntaxUID: JPEG_BASELINE,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION,
  };
  const dict = new DicomDict(D.denaturalizeDataset(meta));
  dict.dict = D.denaturalizeDataset({
    ...ds,
    PixelData: frames.map(toArrayBuffer),
    _vrMap: { PixelData: 'OB' },
  });
  // One fragment per frame, and dcmjs writes the Basic Offset Table.
  return Buffer.from(dict.write({ fragmentMultiframe: false }));
}

/** Every stored tile of level k, row by row: frames exactly as stored (full tiles, edges padded). */
async function levelFrames(slide: StoredSlide, k: number): Promise<Buffer[]> {
  const l = slide.manifest.levelInfo[k]!;
  const frames: Buffer[] = [];
  for (let row = 0; row < l.tilesY; row++) {
    for (let col = 0; col < l.tilesX; col++) {
      const t = await slide.readStoredTile(k, col, row);
      if (!t) throw new SlideError('CORRUPT_FILE', `slide ${slide.manifest.id}: no tile ${k}/${col}/${row}`);
      frames.push(t);
    }
  }
  return frames;
}

const byteLength = (frames: Buffer[]): number => frames.reduce((n, f) => n + f.length, 0);

/** One instance of the series as a Part 10 file; null when its stored image has gone. */
async function exportInstance(
  store: Pick<SlideStore, 'manifest' | 'open'>,
  slide: StoredSlide,
  s: SeriesContext,
  inst: SeriesInstance,
): Promise<DicomInstanceFile | null> {
  const id = s.manifest.id;
  let frames: Buffer[];
  let ds: Dataset;
  if (inst.kind === 'VOLUME') {
    const k = inst.level!;
    frames = await levelFrames(slide, k);
    const info = checkBaseline(jpegFrameInfo(frames[0]!), `slide ${id} level ${k}`);
    ds = instanceDataset(s, levelPlan(s.manifest, k, info, byteLength(frames)), inst.instanceNumber);
  } else {
    const jpeg = await readStoredFile(store, id, `${inst.associated!}.jpg`);
    if (!jpeg) return null;
    const info = checkBaseline(jpegFrameInfo(jpeg), `slide ${id} ${inst.associated!}.jpg`);
    frames = [jpeg];
    ds = instanceDataset(s, associatedPlan(inst.kind, info, jpeg.length), inst.instanceNumber);
  }
  return {
    name: inst.fileName,
    kind: inst.kind,
    sopInstanceUid: ds.SOPInstanceUID as string,
    data: writePart10(ds, frames),
  };
}

/**
 * The slide as a VL Whole Slide Microscopy Image series: one TILED_FULL instance per stored level,
 * whose frames are the stored JPEG tiles (the level's tables spliced in, never decoded), then the
 * label and overview (macro) images as their own instances unless de-identified. Instances come one
 * at a time, so a caller can write or stream each before the next is read. `only` limits the series
 * to the instances whose roles it names (`level:0`, `label`, …).
 */
export async function* exportDicomSeries(
  store: Pick<SlideStore, 'manifest' | 'open'>,
  id: string,
  opts: DicomExportOptions,
  only?: ReadonlySet<string>,
): AsyncGenerator<DicomInstanceFile> {
  const manifest = await store.manifest(id);
  if (!manifest) throw new SlideError('SLIDE_NOT_FOUND', `no slide ${id}`);
  const file = await store.open(id, SLIDE_FILE);
  if (!file) throw new SlideError('SLIDE_NOT_FOUND', `no slide ${id}`);
  const slide = await StoredSlide.open(file, manifest);
  try {
    const s = await seriesContext(manifest, opts);
    for (const inst of seriesInstances(manifest, opts.deidentified)) {
      if (only && !only.has(inst.role)) continue;
      const out = await exportInstance(store, slide, s, inst);
      if (out) yield out;
    }
  } finally {
    await slide.close();
  }
}
