import sharp from 'sharp';
import type { Manifest } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import type { JpegFrameInfo } from './jpeg-frame.ts';
import { slideUidMaker } from './uids.ts';

/**
 * The attribute set of a Tessera VL Whole Slide Microscopy series, shared by the Part 10 export
 * (tiles/export/dicom.ts) and the DICOMweb server's QIDO answers and metadata: what an instance
 * says about itself never depends on whether it is written to a file or sent as DICOM JSON.
 */

/** VL Whole Slide Microscopy Image Storage. */
export const WSI_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.6';
/** JPEG Baseline (Process 1). */
export const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

/** Who and what the slide belongs to, as the export states it (already de-identified if it must be). */
export interface DicomSubject {
  /** Patient's Name and Patient ID (the study code of a de-identified share). Empty = unknown. */
  patientName: string;
  patientId: string;
  /** Accession Number (at most 16 characters; longer values are left out). */
  accessionNumber?: string;
  /** Study ID (at most 16 characters). */
  studyId?: string;
  /** When the study began (an ISO date or date-time); left empty when absent. */
  studyDate?: string;
  studyDescription?: string;
  /** The slide's Container Identifier and Specimen Identifier (its name, or the study code). */
  containerId: string;
}

export interface DicomExportOptions {
  subject: DicomSubject;
  /**
   * Basic Application Level Confidentiality Profile (PS3.15 E.1): no label or overview instances, no
   * dates (type 1 dates get a dummy), Patient Identity Removed, and UIDs unrelated to the identified
   * export's.
   */
  deidentified: boolean;
  /** Mixed into every UID (a de-identified share's UIDs differ per study code). */
  uidSalt?: string;
  /** Software Versions (0018,1020). */
  softwareVersion?: string;
}

/** A dataset in dcmjs' naturalized form: keyword → value, sequences as arrays of datasets. */
export type Dataset = Record<string, unknown>;

/** One instance of the series: a pyramid level (VOLUME) or the label or overview image. */
export interface SeriesInstance {
  /** The role its UIDs are derived from: `level:k`, `label`, `overview`. */
  role: string;
  kind: 'VOLUME' | 'LABEL' | 'OVERVIEW';
  /** Stored pyramid level (VOLUME only). */
  level?: number;
  /** The stored associated image it is made of (LABEL: label, OVERVIEW: macro). */
  associated?: 'label' | 'macro';
  /** File name inside an export. */
  fileName: string;
  instanceNumber: number;
}

/**
 * The instances of a slide's series, in export order: every stored level, then the label and the
 * overview (macro) when the slide has them and the form is identified.
 */
export function seriesInstances(
  manifest: Pick<Manifest, 'levels' | 'associated'>,
  deidentified: boolean,
): SeriesInstance[] {
  const out: SeriesInstance[] = [];
  for (let k = 0; k < manifest.levels; k++)
    out.push({
      role: `level:${k}`,
      kind: 'VOLUME',
      level: k,
      fileName: `level-${k}.dcm`,
      instanceNumber: k + 1,
    });
  if (deidentified) return out;
  for (const [name, kind] of [
    ['label', 'LABEL'],
    ['macro', 'OVERVIEW'],
  ] as const) {
    if (!manifest.associated.includes(name)) continue;
    out.push({
      role: kind.toLowerCase(),
      kind,
      associated: name,
      fileName: `${kind.toLowerCase()}.dcm`,
      instanceNumber: out.length + 1,
    });
  }
  return out;
}

const code = (value: string, scheme: string, meaning: string): Dataset => ({
  CodeValue: value,
  CodingSchemeDesignator: scheme,
  CodeMeaning: meaning,
});

let srgbProfile: Promise<Buffer> | null = null;
/** libvips' built-in sRGB profile: the Optical Path's ICC Profile for colour images. */
export function srgbIcc(): Promise<Buffer> {
  srgbProfile ??= (async () => {
    const jpg = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } })
      .jpeg()
      .withIccProfile('srgb')
      .toBuffer();
    const icc = (await sharp(jpg).metadata()).icc;
    if (!icc) throw new Error('libvips gave no sRGB profile');
    return icc;
  })();
  return srgbProfile;
}

/** DICOM DA and TM from an ISO date or date-time (UTC); empty strings when absent or unparsable. */
export function dicomDateTime(iso: string | undefined): { date: string; time: string } {
  if (!iso) return { date: '', time: '' };
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2}))?/.exec(iso);
  if (!m) return { date: '', time: '' };
  if (iso.length > 10) {
    const d = new Date(iso);
    if (!Number.isNaN(d.getTime())) {
      const s = d.toISOString();
      return { date: s.slice(0, 10).replace(/-/g, ''), time: s.slice(11, 19).replace(/:/g, '') };
    }
  }
  return { date: `${m[1]}${m[2]}${m[3]}`, time: m[4] ? `${m[4]}${m[5]}${m[6]}` : '' };
}

/** Trim to a VR's maximum length (SH 16, LO 64, PN 64 per component group). */
const fit = (s: string | undefined, max: number): string => (s ?? '').slice(0, max);

/** Who the series is about and how it is named: everything the study and series levels say. */
export interface SeriesIdentity {
  slideId: string;
  opts: DicomExportOptions;
  /** The UID of a role (`study`, `series`, `instance:level:0`, …): see tiles/export/uids.ts. */
  uid: (role: string) => string;
}

export function seriesIdentity(slideId: string, opts: DicomExportOptions): SeriesIdentity {
  return { slideId, opts, uid: slideUidMaker(slideId, opts.deidentified, opts.uidSalt ?? '') };
}

/** Patient and General Study modules (and the de-identification record): the study level. */
export function studyAttributes(s: SeriesIdentity): Dataset {
  const { subject, deidentified } = s.opts;
  const study = deidentified ? { date: '', time: '' } : dicomDateTime(subject.studyDate);
  const accession =
    subject.accessionNumber && subject.accessionNumber.length <= 16 ? subject.accessionNumber : '';
  const ds: Dataset = {
    // Patient
    PatientName: fit(subject.patientName, 64),
    PatientID: fit(subject.patientId, 64),
    PatientBirthDate: '',
    PatientSex: '',
    // General Study
    StudyInstanceUID: s.uid('study'),
    StudyDate: study.date,
    StudyTime: study.time,
    ReferringPhysicianName: '',
    StudyID: deidentified ? '' : fit(subject.studyId, 16),
    AccessionNumber: deidentified ? '' : accession,
  };
  if (deidentified) {
    ds.PatientIdentityRemoved = 'YES';
    ds.DeidentificationMethod = 'Basic Application Level Confidentiality Profile';
    ds.DeidentificationMethodCodeSequence = [
      code('113100', 'DCM', 'Basic Application Confidentiality Profile'),
    ];
    ds.LongitudinalTemporalInformationModified = 'REMOVED';
  } else if (subject.studyDescription) {
    ds.StudyDescription = fit(subject.studyDescription, 64);
  }
  return ds;
}

/** General Series (Whole Slide Microscopy Series): the series level. */
export function seriesAttributes(s: SeriesIdentity): Dataset {
  return { Modality: 'SM', SeriesInstanceUID: s.uid('series'), SeriesNumber: 1 };
}

/** The parts of every instance of the series that do not depend on the image. */
export interface SeriesContext extends SeriesIdentity {
  manifest: Manifest;
  icc: Buffer;
  /** Content / acquisition date and time of every instance. */
  when: { date: string; time: string };
}

export async function seriesContext(manifest: Manifest, opts: DicomExportOptions): Promise<SeriesContext> {
  return {
    ...seriesIdentity(manifest.id, opts),
    manifest,
    icc: await srgbIcc(),
    when: opts.deidentified ? { date: '19000101', time: '000000' } : dicomDateTime(manifest.createdAt),
  };
}

function commonAttributes(s: SeriesContext, instanceNumber: number, role: string): Dataset {
  const { subject } = s.opts;
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: WSI_SOP_CLASS,
    SOPInstanceUID: s.uid(`instance:${role}`),
    InstanceCreationDate: s.when.date,
    InstanceCreationTime: s.when.time,
    ...studyAttributes(s),
    ...seriesAttributes(s),
    // Frame of Reference
    FrameOfReferenceUID: s.uid('frame-of-reference'),
    PositionReferenceIndicator: 'SLIDE_CORNER',
    // General Equipment, Enhanced General Equipment
    Manufacturer: 'Tessera',
    ManufacturerModelName: 'Tessera DICOM export',
    DeviceSerialNumber: 'TESSERA',
    SoftwareVersions: s.opts.softwareVersion ?? '0',
    // General Image, Multi-frame Functional Groups
    InstanceNumber: instanceNumber,
    ContentDate: s.when.date,
    ContentTime: s.when.time,
    AcquisitionDateTime: `${s.when.date}${s.when.time}`,
    // Specimen
    ContainerIdentifier: fit(subject.containerId, 64) || 'UNKNOWN',
    IssuerOfTheContainerIdentifierSequence: [],
    ContainerTypeCodeSequence: [code('433466003', 'SCT', 'Microscope slide')],
    SpecimenDescriptionSequence: [
      {
        SpecimenIdentifier: fit(subject.containerId, 64) || 'UNKNOWN',
        SpecimenUID: s.uid('specimen'),
        IssuerOfTheSpecimenIdentifierSequence: [],
        SpecimenPreparationSequence: [],
      },
    ],
    AcquisitionContextSequence: [],
  };
}

/** A TILED_FULL image: one instance of the series, its frames in row-major order. */
export interface ImagePlan {
  role: string;
  kind: SeriesInstance['kind'];
  imageType: string[];
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  /** µm per pixel of this image. */
  mpp: [number, number];
  /** The first frame's header (all frames of an image are coded alike). */
  info: JpegFrameInfo;
  frameCount: number;
  /** Bytes of all frames together, as sent (for the compression ratio). */
  codedBytes: number;
  burnedIn: boolean;
  comment?: string;
}

/** The plan of stored level k, from its first frame's header and the bytes of all its frames. */
export function levelPlan(manifest: Manifest, k: number, info: JpegFrameInfo, codedBytes: number): ImagePlan {
  const l = manifest.levelInfo[k];
  if (!l) throw new SlideError('INVALID_PARAMETER', `slide ${manifest.id} has no level ${k}`);
  const scale = [manifest.width / l.width, manifest.height / l.height] as const;
  // Pixel Spacing is type 1: a slide whose µm/px the source did not state gets a nominal 1 µm/px
  // at full resolution, and says so in Image Comments.
  const known = manifest.mppX !== null && manifest.mppY !== null;
  const mpp: [number, number] = [(manifest.mppX ?? 1) * scale[0], (manifest.mppY ?? 1) * scale[1]];
  const original = k === 0 && l.scanner === true;
  return {
    role: `level:${k}`,
    kind: 'VOLUME',
    imageType: original
      ? ['ORIGINAL', 'PRIMARY', 'VOLUME', 'NONE']
      : ['DERIVED', 'PRIMARY', 'VOLUME', k === 0 ? 'NONE' : 'RESAMPLED'],
    width: l.width,
    height: l.height,
    tileWidth: manifest.tileSize,
    tileHeight: manifest.tileSize,
    mpp,
    info,
    frameCount: l.tilesX * l.tilesY,
    codedBytes,
    burnedIn: false,
    comment: known
      ? undefined
      : 'Pixel spacing unknown: the source states no microns per pixel; 1 micron per pixel at full resolution assumed',
  };
}

/** The plan of the label or overview image: one frame, the stored JPEG. */
export function associatedPlan(kind: 'LABEL' | 'OVERVIEW', info: JpegFrameInfo, bytes: number): ImagePlan {
  return {
    role: kind.toLowerCase(),
    kind,
    imageType: ['ORIGINAL', 'PRIMARY', kind, 'NONE'],
    width: info.width,
    height: info.height,
    tileWidth: info.width,
    tileHeight: info.height,
    mpp: associatedMpp(kind, info),
    info,
    frameCount: 1,
    codedBytes: bytes,
    burnedIn: true,
  };
}

/**
 * Pixel Spacing is required but no scanner states it for its label and overview cameras: estimated
 * from a standard 75 x 25 mm slide (the overview shows the whole slide lengthwise, the label its
 * 25 mm width).
 */
function associatedMpp(kind: 'LABEL' | 'OVERVIEW', info: JpegFrameInfo): [number, number] {
  const mm =
    kind === 'OVERVIEW' ? 75 / Math.max(info.width, info.height) : 25 / Math.max(info.width, info.height);
  return [mm * 1000, mm * 1000];
}

/**
 * Attribute tags as AT values: numbers (group << 16 | element), which is what dcmjs writes; a string
 * such as '0048021E' is written as (0000,0000).
 */
const COLUMN_POSITION = 0x0048021e;
const ROW_POSITION = 0x0048021f;
const PLANE_POSITION_SLIDE = 0x0048021a;

function imageAttributes(s: SeriesContext, p: ImagePlan): Dataset {
  const spp = p.info.components;
  const colour = spp === 3;
  const raw = p.width * p.height * spp;
  const ds: Dataset = {
    ImageType: p.imageType,
    // Image Pixel
    SamplesPerPixel: spp,
    PhotometricInterpretation: p.info.photometric,
    Rows: p.tileHeight,
    Columns: p.tileWidth,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    NumberOfFrames: p.frameCount,
    // Whole Slide Microscopy Image
    TotalPixelMatrixColumns: p.width,
    TotalPixelMatrixRows: p.height,
    TotalPixelMatrixFocalPlanes: 1,
    TotalPixelMatrixOriginSequence: [
      { XOffsetInSlideCoordinateSystem: 0, YOffsetInSlideCoordinateSystem: 0 },
    ],
    ImageOrientationSlide: [0, -1, 0, -1, 0, 0],
    DimensionOrganizationType: 'TILED_FULL',
    VolumetricProperties: 'VOLUME',
    SpecimenLabelInImage: p.burnedIn ? 'YES' : 'NO',
    BurnedInAnnotation: p.burnedIn ? 'YES' : 'NO',
    FocusMethod: 'AUTO',
    ExtendedDepthOfField: 'NO',
    LossyImageCompression: '01',
    LossyImageCompressionRatio: [Number((raw / Math.max(1, p.codedBytes)).toFixed(2))],
    LossyImageCompressionMethod: ['ISO_10918_1'],
    // Multi-frame Dimension
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: s.uid(`dimensions:${p.role}`) }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: s.uid(`dimensions:${p.role}`),
        DimensionIndexPointer: COLUMN_POSITION,
        FunctionalGroupPointer: PLANE_POSITION_SLIDE,
        DimensionDescriptionLabel: 'Column Position',
      },
      {
        DimensionOrganizationUID: s.uid(`dimensions:${p.role}`),
        DimensionIndexPointer: ROW_POSITION,
        FunctionalGroupPointer: PLANE_POSITION_SLIDE,
        DimensionDescriptionLabel: 'Row Position',
      },
    ],
    // Optical Path
    NumberOfOpticalPaths: 1,
    OpticalPathSequence: [
      {
        OpticalPathIdentifier: '1',
        IlluminationTypeCodeSequence: [code('111744', 'DCM', 'Brightfield illumination')],
        IlluminationColorCodeSequence: [code('414298005', 'SCT', 'Full Spectrum')],
        ...(colour ? { ICCProfile: toArrayBuffer(s.icc), ColorSpace: 'SRGB' } : {}),
        ...(s.manifest.objectivePower ? { ObjectiveLensPower: s.manifest.objectivePower } : {}),
      },
    ],
  };
  if (p.kind === 'LABEL') {
    // Slide Label module: what the label says is in its pixels only; nothing read from it is kept.
    ds.LabelText = '';
    ds.BarcodeValue = '';
  }
  if (colour) ds.PlanarConfiguration = 0;
  else ds.PresentationLUTShape = 'IDENTITY';
  const shared: Dataset = {
    WholeSlideMicroscopyImageFrameTypeSequence: [{ FrameType: p.imageType }],
    OpticalPathIdentificationSequence: [{ OpticalPathIdentifier: '1' }],
  };
  if (p.comment) ds.ImageComments = p.comment;
  const [mx, my] = p.mpp;
  // PixelSpacing is row spacing (vertical) then column spacing, in mm.
  shared.PixelMeasuresSequence = [{ PixelSpacing: [my / 1000, mx / 1000].map(round), SliceThickness: 0.001 }];
  ds.ImagedVolumeWidth = round((p.width * mx) / 1000);
  ds.ImagedVolumeHeight = round((p.height * my) / 1000);
  ds.ImagedVolumeDepth = 0.001;
  ds.SharedFunctionalGroupsSequence = [shared];
  return ds;
}

/** Every attribute of one instance but its pixel data. */
export function instanceDataset(s: SeriesContext, p: ImagePlan, instanceNumber: number): Dataset {
  return { ...commonAttributes(s, instanceNumber, p.role), ...imageAttributes(s, p) };
}

/** Decimal strings (DS) are at most 16 characters: as many significant digits as fit. */
function round(v: number): number {
  for (let p = 12; p > 1; p--) {
    const r = Number(v.toPrecision(p));
    if (String(r).length <= 16) return r;
  }
  return Number(v.toPrecision(1));
}

export function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** A frame header a JPEG Baseline instance can carry unchanged; throws UNSUPPORTED_FORMAT otherwise. */
export function checkBaseline(info: JpegFrameInfo | null, what: string): JpegFrameInfo {
  if (!info || info.sof !== 0xc0 || info.bits !== 8 || (info.components !== 1 && info.components !== 3)) {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `${what} is not a baseline 8-bit JPEG: it cannot go into a JPEG Baseline DICOM instance unchanged`,
    );
  }
  return info;
}
