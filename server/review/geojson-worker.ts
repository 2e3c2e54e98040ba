/**
 * Worker thread of a GeoJSON import: parses and checks the body away from the event loop (a
 * 10,000-feature body costs hundreds of milliseconds of JSON.parse and validation), and hands back
 * the create operations as JSON text in batches, which the main thread parses one batch at a time,
 * with the features it left out.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { GeoJsonRefused, fromFeatureCollection, parseGeoJsonText } from './geojson.ts';
import type { ImportRequest, ImportReply } from './geojson-import.ts';

function run(req: ImportRequest): ImportReply {
  let body: unknown;
  try {
    body = parseGeoJsonText(new TextDecoder().decode(req.body));
  } catch (e) {
    return {
      ok: false,
      code: 'INVALID_PARAMETER',
      message: `the body is not JSON: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`,
    };
  }
  try {
    const { ops, errors, refused } = fromFeatureCollection(body, req.limits);
    const batches: string[] = [];
    for (let i = 0; i < ops.length; i += req.batchSize)
      batches.push(JSON.stringify(ops.slice(i, i + req.batchSize)));
    return { ok: true, count: ops.length, batches, errors, refused };
  } catch (e) {
    if (e instanceof GeoJsonRefused) return { ok: false, code: e.code, message: e.message };
    throw e;
  }
}

// Below the event loop it works for: on Linux a nice value is per thread, and this one's parse
// should take the cores only when requests do not need them.
try {
  setPriority(10);
} catch {
  // Not permitted here: parse at the same priority.
}

parentPort!.on('message', (req: ImportRequest) => parentPort!.postMessage(run(req)));
