import { createRequire } from 'node:module';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AppliedOp } from '../../protocol/index.ts';
import { HttpError } from '../http/errors.ts';
import type { Actor, AnnotationScope, AnnotationService, CreateOperation } from './annotations.ts';
import {
  GEOJSON_IMPORT_LIMITS,
  type FeatureError,
  type GeoJsonImportLimits,
  type GeoJsonRefused,
} from './geojson.ts';

/**
 * Operations per transaction. SQLite itself takes ~0.15 ms an operation here (two rows of ~1 KB and
 * their indexes), so 50 hold the event loop ~10 ms; batches of 250 held it 40-100 ms.
 */
export const IMPORT_BATCH = 50;
/** A worker's heap: a 20 MB body parses in well under this; a hostile one stops here. */
const WORKER_HEAP_MB = 512;

export interface ImportRequest {
  body: Uint8Array;
  limits: GeoJsonImportLimits;
  batchSize: number;
}

export type ImportReply =
  | { ok: true; count: number; batches: string[]; errors: FeatureError[]; refused: number }
  | { ok: false; code: GeoJsonRefused['code']; message: string };

/**
 * The worker's entry is TypeScript: it registers tsx's loader in its own thread first (loaders
 * registered in the main thread do not reach workers on Node 20).
 */
function bootstrap(): string {
  // require.resolve finds the CommonJS build, whose register() cannot run from a worker's eval.
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const tsx = pathToFileURL(api).href;
  const entry = new URL('./geojson-worker.ts', import.meta.url).href;
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
}

/**
 * One parser thread, started on the first import and kept (starting one costs ~0.5-2 s of loading
 * TypeScript); requests go one at a time, so a body that exhausts its heap fails only itself.
 */
let worker: Worker | null = null;
let queue: Promise<unknown> = Promise.resolve();

function parseOnce(req: ImportRequest): Promise<ImportReply> {
  return new Promise((resolve, reject) => {
    const w =
      worker ??
      new Worker(bootstrap(), { eval: true, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    worker = w;
    const done = (): void => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
      // Idle, it must not keep the process alive.
      w.unref();
    };
    const onMessage = (m: ImportReply): void => {
      done();
      resolve(m);
    };
    const onError = (e: Error & { code?: string }): void => {
      done();
      if (worker === w) worker = null;
      reject(
        e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new HttpError('IMPORT_TOO_LARGE', 'the GeoJSON is too large to read')
          : e,
      );
    };
    const onExit = (code: number): void => {
      done();
      if (worker === w) worker = null;
      reject(new Error(`GeoJSON import worker exited with ${code}`));
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
    w.ref();
    w.postMessage(req);
  });
}

function parseInWorker(req: ImportRequest): Promise<ImportReply> {
  const next = queue.then(() => parseOnce(req));
  queue = next.catch(() => undefined);
  return next;
}

/**
 * Parse and check a GeoJSON body in the worker thread, storing nothing: the create operations in
 * batches of JSON text, and the features left out. An algorithm's results (server/ai) are read so.
 */
export function parseGeoJsonInWorker(
  body: Uint8Array,
  limits: GeoJsonImportLimits = GEOJSON_IMPORT_LIMITS,
): Promise<ImportReply> {
  return parseInWorker({ body, limits, batchSize: IMPORT_BATCH });
}

/**
 * Import a GeoJSON body (bytes, UTF-8) onto a slide as `actor`: parsed and checked in a worker
 * thread, then stored IMPORT_BATCH operations per transaction with a turn of the event loop between
 * batches, each batch handed to `onApplied` (to reach live sessions) as soon as it is stored. A bad
 * feature is left out and reported; the body as a whole is refused (HttpError) only when it is not
 * GeoJSON or is over a size limit. Returns the new annotations' ids, in file order, the features left
 * out (the first `limits.listedErrors` listed) and how many were.
 */
export async function importGeoJson(
  body: Uint8Array,
  scope: AnnotationScope,
  actor: Actor,
  annotations: AnnotationService,
  onApplied: (ops: AppliedOp[]) => void,
  limits: GeoJsonImportLimits = GEOJSON_IMPORT_LIMITS,
): Promise<{ ids: string[]; errors: FeatureError[]; refused: number }> {
  if (body.byteLength > limits.bodyBytes)
    throw new HttpError('IMPORT_TOO_LARGE', `Expected a GeoJSON body of at most ${limits.bodyBytes} bytes`);
  const reply = await parseInWorker({ body, limits, batchSize: IMPORT_BATCH });
  if (!reply.ok) throw new HttpError(reply.code, reply.message);
  const ids: string[] = [];
  for (const text of reply.batches) {
    const ops = JSON.parse(text) as CreateOperation[];
    const applied = await annotations.createBatch(scope, ops, actor);
    onApplied(applied);
    for (const a of applied) ids.push(a.annotationId);
    await yieldToEventLoop();
  }
  return { ids, errors: reply.errors, refused: reply.refused };
}
