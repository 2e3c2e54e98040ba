import type { ErrorCode, Manifest } from '../../protocol/index.ts';

/** Parent → child: the one request a worker process serves. */
export interface IngestRequest {
  type: 'ingest';
  input: string;
  dataDir: string;
  tileSize: number;
  jpegQuality: number;
  name?: string;
  sharpConcurrency: number;
}

/** Child → parent. */
export type IngestMessage =
  | { type: 'progress'; percent: number; stage: string }
  | { type: 'done'; manifest: Manifest; created: boolean }
  | { type: 'error'; code: ErrorCode; message: string };
