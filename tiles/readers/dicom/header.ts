import { DICOM_UID } from '../../../protocol/index.ts';
import { SlideError } from '../../errors.ts';
import { T, WSI_SOP_CLASS } from './instance.ts';
import { parseDicomFile, tag } from './parse.ts';

const SOPInstanceUID = tag(0x0008, 0x0018);
const SeriesDescription = tag(0x0008, 0x103e);
const MediaStorageSOPClassUID = tag(0x0002, 0x0002);
const MediaStorageSOPInstanceUID = tag(0x0002, 0x0003);

/** Who a DICOM instance is: what a receiver needs to file it, answer for it, or turn it away. */
export interface DicomInstanceHeader {
  sopClassUid: string | null;
  sopInstanceUid: string | null;
  studyUid: string | null;
  seriesUid: string | null;
  modality: string | null;
  transferSyntax: string;
  /** The slide's barcode or label text as the scanner read it (Container Identifier). */
  containerIdentifier: string | null;
  seriesDescription: string | null;
  /** VL Whole Slide Microscopy Image Storage. */
  wsi: boolean;
}

/**
 * Read a DICOM Part 10 file's identifying attributes (up to its pixel data, which is not read).
 * Throws a SlideError when the file is not DICOM or its header is broken.
 */
export async function readDicomHeader(file: string): Promise<DicomInstanceHeader> {
  const parsed = await parseDicomFile(file);
  const ds = parsed.dataset;
  const sopClassUid = ds.string(T.SOPClassUID) ?? parsed.meta.string(MediaStorageSOPClassUID);
  const header: DicomInstanceHeader = {
    sopClassUid,
    sopInstanceUid: ds.string(SOPInstanceUID) ?? parsed.meta.string(MediaStorageSOPInstanceUID),
    studyUid: ds.string(T.StudyInstanceUID),
    seriesUid: ds.string(T.SeriesInstanceUID),
    modality: ds.string(T.Modality),
    transferSyntax: parsed.transferSyntax,
    containerIdentifier: ds.string(T.ContainerIdentifier),
    seriesDescription: ds.string(SeriesDescription),
    wsi: sopClassUid === WSI_SOP_CLASS,
  };
  for (const uid of [header.sopClassUid, header.sopInstanceUid, header.studyUid, header.seriesUid])
    if (uid !== null && !DICOM_UID.test(uid))
      throw new SlideError('CORRUPT_FILE', `malformed DICOM UID ${JSON.stringify(uid.slice(0, 80))}`);
  return header;
}

export { DICOM_UID };
