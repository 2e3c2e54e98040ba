import { createRequire } from 'node:module';

/**
 * Synthetic DICOM instances for tests, written with dcmjs (an implementation independent of this
 * reader's parser): layouts the sample slides do not cover, such as TILED_SPARSE, implicit VR,
 * JPEG 2000 and objects that are not slides.
 */

interface DcmjsData {
  DicomMetaDictionary: {
    denaturalizeDataset(ds: Record<string, unknown>): Record<string, unknown>;
    naturalizeDataset(ds: Record<string, unknown>): Record<string, unknown>;
  };
  DicomDict: new (meta: Record<string, unknown>) => {
    dict: Record<string, unknown>;
    write(opts?: object): ArrayBuffer;
  };
  DicomMessage: {
    readFile(buf: ArrayBuffer): { dict: Record<string, unknown>; meta: Record<string, unknown> };
  };
}

// dcmjs ships no type declarations: the few calls used here are typed above.
const require = createRequire(import.meta.url);
const dcmjs = require('dcmjs') as { data: DcmjsData };

export const TS = {
  implicit: '1.2.840.10008.1.2',
  explicit: '1.2.840.10008.1.2.1',
  jpeg: '1.2.840.10008.1.2.4.50',
  j2kLossless: '1.2.840.10008.1.2.4.90',
} as const;

export const WSI = '1.2.840.10008.5.1.4.1.1.77.1.6';
export const CT = '1.2.840.10008.5.1.4.1.1.2';

/** Write a Part 10 file from a naturalized data set. Encapsulated PixelData is an array of frames. */
export function writeDicom(transferSyntax: string, ds: Record<string, unknown>): Buffer {
  const { DicomMetaDictionary: D, DicomDict } = dcmjs.data;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ds.SOPClassUID,
    MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
    TransferSyntaxUID: transferSyntax,
    ImplementationClassUID: '1.2.826.0.1.3680043.10.1001',
  };
  const dict = new DicomDict(D.denaturalizeDataset(meta));
  dict.dict = D.denaturalizeDataset(ds);
  return Buffer.from(dict.write({ fragmentMultiframe: false }));
}

/** Read a file with dcmjs: naturalized data set and transfer syntax. */
export function readDicom(buf: Buffer): { ds: Record<string, unknown>; transferSyntax: string } {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
  const msg = dcmjs.data.DicomMessage.readFile(ab);
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(msg.dict);
  const ts = (msg.meta['00020010'] as { Value: string[] }).Value[0]!;
  return { ds, transferSyntax: ts };
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

export interface WsiFixture {
  transferSyntax: string;
  width: number;
  height: number;
  tile: number;
  photometric?: string;
  samplesPerPixel?: number;
  imageType?: string;
  /** Encoded frames (encapsulated syntaxes) or raw frames (native), in frame order. */
  frames: Uint8Array[];
  /** 1-based positions per frame: makes the instance TILED_SPARSE. */
  positions?: [number, number][];
  mmPerPixel?: [number, number];
  objectivePower?: number;
}

/** A VL Whole Slide Microscopy instance with the given frames. */
export function wsiInstance(f: WsiFixture): Buffer {
  const spp = f.samplesPerPixel ?? 3;
  const native = f.transferSyntax === TS.implicit || f.transferSyntax === TS.explicit;
  const ds: Record<string, unknown> = {
    SOPClassUID: WSI,
    SOPInstanceUID: '1.2.826.0.1.3680043.10.1001.1',
    StudyInstanceUID: '1.2.826.0.1.3680043.10.1001.2',
    SeriesInstanceUID: '1.2.826.0.1.3680043.10.1001.3',
    Modality: 'SM',
    ImageType: ['DERIVED', 'PRIMARY', f.imageType ?? 'VOLUME', 'NONE'],
    InstanceNumber: 1,
    Rows: f.tile,
    Columns: f.tile,
    SamplesPerPixel: spp,
    PhotometricInterpretation: f.photometric ?? (spp === 3 ? 'RGB' : 'MONOCHROME2'),
    PlanarConfiguration: 0,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    NumberOfFrames: f.frames.length,
    TotalPixelMatrixColumns: f.width,
    TotalPixelMatrixRows: f.height,
    DimensionOrganizationType: f.positions ? 'TILED_SPARSE' : 'TILED_FULL',
    SharedFunctionalGroupsSequence: [
      { PixelMeasuresSequence: [{ PixelSpacing: f.mmPerPixel ?? [0.00025, 0.00025], SliceThickness: 0 }] },
    ],
    PixelData: native ? toArrayBuffer(Buffer.concat(f.frames)) : f.frames.map(toArrayBuffer),
    _vrMap: { PixelData: 'OB' },
  };
  if (f.objectivePower !== undefined) {
    ds.OpticalPathSequence = [{ OpticalPathIdentifier: '1', ObjectiveLensPower: f.objectivePower }];
  }
  if (f.positions) {
    ds.PerFrameFunctionalGroupsSequence = f.positions.map(([col, row]) => ({
      PlanePositionSlideSequence: [
        {
          ColumnPositionInTotalImagePixelMatrix: col,
          RowPositionInTotalImagePixelMatrix: row,
          ZOffsetInSlideCoordinateSystem: 0,
        },
      ],
    }));
  }
  return writeDicom(f.transferSyntax, ds);
}

/** A 16 x 16 CT slice: a DICOM file that is not a slide. */
export function ctSlice(): Buffer {
  return writeDicom(TS.explicit, {
    SOPClassUID: CT,
    SOPInstanceUID: '1.2.826.0.1.3680043.10.1001.9',
    Modality: 'CT',
    Rows: 16,
    Columns: 16,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    PixelData: new Uint16Array(256).fill(1000).buffer,
    _vrMap: { PixelData: 'OW' },
  });
}
