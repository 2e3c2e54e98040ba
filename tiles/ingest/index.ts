export { ingest, type IngestOptions, type IngestResult } from './ingest.ts';
export { ingestIsolated, type IsolatedIngestOptions } from './isolated.ts';
export { contentId, sha256File, singleFileId } from './hash.ts';
