import { z } from 'zod';

/** A DICOM UID (PS3.5 9.1): digits and dots, components without leading zeros, at most 64 chars. */
export const DICOM_UID = /^(?=.{1,64}$)(0|[1-9]\d*)(\.(0|[1-9]\d*))*$/;

const uid = (what: string) =>
  z.string().trim().regex(DICOM_UID, `${what} is a DICOM UID: digits and dots, at most 64 characters`);

/** `POST /api/imports/dicomweb`: a study (or one of its series) from a configured archive. */
export const DicomwebImportSchema = z.strictObject({
  /** The name of an archive in TESSERA_DICOMWEB_SOURCES; never a URL. */
  source: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'source is the name of a configured archive'),
  study: uid('the study'),
  series: uid('the series').optional(),
});
export type DicomwebImportRequest = z.infer<typeof DicomwebImportSchema>;

/** `GET /api/imports/dicomweb/sources`: the archives slides may be imported from. */
export interface DicomwebSourceDto {
  name: string;
  /** The DICOMweb root, without credentials. */
  url: string;
}

/** `POST /api/imports/dicomweb` answer (202): a job per slide series found in the study. */
export interface DicomwebImportAccepted {
  jobs: { jobId: string; name: string; seriesUid: string }[];
}
