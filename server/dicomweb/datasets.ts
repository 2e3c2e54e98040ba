import type { AssociatedName, Manifest } from '../../protocol/index.ts';
import {
  type Dataset,
  JPEG_BASELINE,
  type SeriesInstance,
  associatedPlan,
  checkBaseline,
  instanceDataset,
  levelPlan,
  seriesAttributes,
  seriesContext,
  seriesInstances,
  studyAttributes,
} from '../../tiles/export/dicom-attributes.ts';
import { type DicomJson, dicomTag, toDicomJson } from '../../tiles/export/dicom-json.ts';
import { jpegFrameInfo } from '../../tiles/export/jpeg-frame.ts';
import type { TileResult } from '../../tiles/serve/index.ts';
import type { DicomSlide } from './slides.ts';

/** What the datasets need of the tile service: manifests and stored bytes, never a whole level. */
export interface FrameSource {
  manifest(id: string): Promise<Manifest | null>;
  storedTile(id: string, k: number, col: number, row: number): Promise<TileResult | null>;
  storedLevelBytes(id: string, k: number): Promise<{ tiles: number; bytes: number } | null>;
  associated(id: string, name: AssociatedName): Promise<TileResult | null>;
}

const tags = (...keywords: string[]): string[] => keywords.map((k) => dicomTag(k)!.tag);

/** Return keys of each QIDO level (PS3.18 Tables 10.6.3-3 to -5, and what WSI clients list by). */
export const STUDY_KEYS = tags(
  'SpecificCharacterSet',
  'StudyDate',
  'StudyTime',
  'AccessionNumber',
  'InstanceAvailability',
  'ModalitiesInStudy',
  'ReferringPhysicianName',
  'RetrieveURL',
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'PatientSex',
  'StudyInstanceUID',
  'StudyID',
  'StudyDescription',
  'NumberOfStudyRelatedSeries',
  'NumberOfStudyRelatedInstances',
);
export const SERIES_KEYS = [
  ...STUDY_KEYS,
  ...tags(
    'Modality',
    'SeriesDescription',
    'SeriesInstanceUID',
    'SeriesNumber',
    'NumberOfSeriesRelatedInstances',
  ),
];
export const INSTANCE_KEYS = [
  ...SERIES_KEYS,
  ...tags(
    'SOPClassUID',
    'SOPInstanceUID',
    'InstanceNumber',
    'ImageType',
    'Rows',
    'Columns',
    'BitsAllocated',
    'NumberOfFrames',
    'TotalPixelMatrixColumns',
    'TotalPixelMatrixRows',
    'ContainerIdentifier',
    'AvailableTransferSyntaxUID',
  ),
];

/** URLs of a slide's resources under the DICOMweb root `base`. */
export function studyUrl(base: string, s: DicomSlide): string {
  return `${base}/studies/${s.identity.uid('study')}`;
}
export function seriesUrl(base: string, s: DicomSlide): string {
  return `${studyUrl(base, s)}/series/${s.identity.uid('series')}`;
}
export function instanceUrl(base: string, s: DicomSlide, inst: SeriesInstance): string {
  return `${seriesUrl(base, s)}/instances/${s.identity.uid(`instance:${inst.role}`)}`;
}

function studyLevel(s: DicomSlide, base: string): Dataset {
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    ...studyAttributes(s.identity),
    ModalitiesInStudy: ['SM'],
    NumberOfStudyRelatedSeries: 1,
    NumberOfStudyRelatedInstances: s.instances.length,
    InstanceAvailability: 'ONLINE',
    RetrieveURL: studyUrl(base, s),
  };
}

/** The study a slide is, as a QIDO study result (before picking its return keys). */
export function studyDataset(s: DicomSlide, base: string): DicomJson {
  return toDicomJson(studyLevel(s, base));
}

/** The slide's series, with its study's attributes. */
export function seriesDataset(s: DicomSlide, base: string): DicomJson {
  return toDicomJson({
    ...studyLevel(s, base),
    ...seriesAttributes(s.identity),
    NumberOfSeriesRelatedInstances: s.instances.length,
    RetrieveURL: seriesUrl(base, s),
  });
}

/** One instance's full attribute set (its study's and series' included), as DICOM JSON. */
export interface InstanceData {
  instance: SeriesInstance;
  /** Everything the Part 10 export writes but the pixel data and file meta information. */
  metadata: DicomJson;
  /** The metadata plus the study and series counts and URLs a QIDO answer carries. */
  qido: DicomJson;
  frames: number;
}

/**
 * The instances of a slide's series (all, or those whose roles are named), each built from the
 * manifest, the first frame's header and the level's byte total: the same datasets as the export
 * writes, without reading a level. An instance whose stored image has gone is left out.
 */
export async function instanceData(
  s: DicomSlide,
  source: FrameSource,
  base: string,
  only?: ReadonlySet<string>,
): Promise<InstanceData[]> {
  const manifest = await source.manifest(s.id);
  if (!manifest) return [];
  const ctx = await seriesContext(manifest, s.options);
  const study = studyLevel(s, base);
  const out: InstanceData[] = [];
  for (const inst of seriesInstances(manifest, s.options.deidentified)) {
    if (only && !only.has(inst.role)) continue;
    let ds: Dataset;
    if (inst.kind === 'VOLUME') {
      const k = inst.level!;
      const [first, bytes] = await Promise.all([
        source.storedTile(s.id, k, 0, 0),
        source.storedLevelBytes(s.id, k),
      ]);
      if (!first || !bytes) continue;
      const info = checkBaseline(jpegFrameInfo(first.body), `slide ${s.id} level ${k}`);
      ds = instanceDataset(ctx, levelPlan(manifest, k, info, bytes.bytes), inst.instanceNumber);
    } else {
      const img = await source.associated(s.id, inst.associated!);
      if (!img) continue;
      const info = checkBaseline(jpegFrameInfo(img.body), `slide ${s.id} ${inst.associated!}.jpg`);
      ds = instanceDataset(ctx, associatedPlan(inst.kind, info, img.body.length), inst.instanceNumber);
    }
    const withSyntax = { ...ds, AvailableTransferSyntaxUID: JPEG_BASELINE };
    out.push({
      instance: inst,
      metadata: toDicomJson(withSyntax),
      qido: toDicomJson({
        ...study,
        ...withSyntax,
        NumberOfSeriesRelatedInstances: s.instances.length,
        RetrieveURL: instanceUrl(base, s, inst),
      }),
      frames: Number(ds.NumberOfFrames),
    });
  }
  return out;
}
