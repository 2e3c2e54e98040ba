export * from './errors.ts';
export * from './pyramid/math.ts';
export * from './store/index.ts';
export * from './ingest/index.ts';
export { openSlide, probe, READERS, detectReader } from './readers/index.ts';
export type { SlideSource, SourceLevel, Probe } from './readers/index.ts';
export { expandInput } from './readers/expand.ts';
export { closeRegionReaders, regionReaders } from './readers/openslide/regions.ts';
export { readDicomHeader, DICOM_UID, type DicomInstanceHeader } from './readers/dicom/header.ts';
