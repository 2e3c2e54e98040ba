import type { ErrorCode, Manifest } from '../../protocol/index.ts';
import type { StoreSpec } from '../store/index.ts';

/** Parent → child: the one request a worker process serves. */
export interface IngestRequest {
  type: 'ingest';
  input: string;
  /** The store to publish into, the same the parent reads. */
  store: StoreSpec;
  tileSize: number;
  jpegQuality: number;
  name?: string;
  sharpConcurrency: number;
}

/**
 * Parent → child: the answer to a `publish` question. The child publishes only on `ok`, after the
 * parent has recorded which slide is coming (so a crash in between never leaves a slide nobody owns).
 */
export interface PublishAnswer {
  type: 'publish';
  ok: boolean;
}

/** Child → parent. */
export type IngestMessage =
  | { type: 'progress'; percent: number; stage: string }
  | { type: 'publish'; id: string }
  | { type: 'done'; manifest: Manifest; created: boolean }
  | { type: 'error'; code: ErrorCode; message: string };
