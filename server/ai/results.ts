import sharp from 'sharp';
import {
  AI_RESULT_LIMITS,
  type AiComplete,
  type AiHeatmapInput,
  type AnnotationClass,
  type Operation,
} from '../../protocol/index.ts';
import { GEOJSON_IMPORT_LIMITS } from '../review/geojson.ts';
import { parseGeoJsonInWorker } from '../review/geojson-import.ts';
import type { NewFinding, NewHeatmap } from './runs.ts';

type CreateOp = Extract<Operation, { type: 'create' }>;

/** An algorithm's answer that cannot be taken: the run fails with `failure` and this message. */
export class BadResult extends Error {
  constructor(
    readonly failure: 'malformed' | 'too_large',
    message: string,
  ) {
    super(message);
  }
}

/** Measurement names read as a finding's score, first found wins. */
const SCORE_KEYS = ['score', 'Score', 'probability', 'Probability'];

/**
 * An algorithm's annotations (QuPath GeoJSON, read by the GeoJSON import's parser in its worker
 * thread) as findings. Stricter than a person's import: a result is taken whole or not at all, so
 * a single feature the import would leave out makes the whole answer malformed.
 */
export async function readFindings(body: Uint8Array): Promise<NewFinding[]> {
  if (body.byteLength > AI_RESULT_LIMITS.annotationBytes)
    throw new BadResult(
      'too_large',
      `annotations of ${body.byteLength} bytes, over the limit of ${AI_RESULT_LIMITS.annotationBytes}`,
    );
  let reply;
  try {
    reply = await parseGeoJsonInWorker(body, {
      ...GEOJSON_IMPORT_LIMITS,
      bodyBytes: AI_RESULT_LIMITS.annotationBytes,
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'IMPORT_TOO_LARGE') throw new BadResult('too_large', 'annotations too large to read');
    throw e;
  }
  if (!reply.ok)
    throw new BadResult(
      reply.code === 'IMPORT_TOO_LARGE' ? 'too_large' : 'malformed',
      `annotations: ${reply.message}`,
    );
  if (reply.refused > 0)
    throw new BadResult(
      'malformed',
      `annotations: ${reply.refused} feature(s) cannot be read, e.g. ${reply.errors[0]?.reason ?? ''}`.trim(),
    );
  const out: NewFinding[] = [];
  for (const text of reply.batches)
    for (const op of JSON.parse(text) as CreateOp[]) {
      const { id, ...a } = op.annotation;
      const m = a.measurements ?? {};
      const key = SCORE_KEYS.find((k) => typeof m[k] === 'number');
      out.push({
        id,
        className: (a.classification as AnnotationClass | null)?.name ?? null,
        score: key === undefined ? null : m[key]!,
        doc: JSON.stringify(a),
      });
    }
  return out;
}

/** Base64 strictly (Node's decoder skips what it does not know, which would hide a corrupt body). */
function base64(data: string): Buffer {
  const clean = data.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0)
    throw new BadResult('malformed', 'heat map: data is not base64');
  return Buffer.from(clean, 'base64');
}

/**
 * A heat map as stored: 8-bit grey PNG over `range`, aligned to the slide (its cells as square as
 * its region: width and height agree with the region's shape within a cell), inside the slide.
 */
export async function readHeatmap(
  name: string,
  h: AiHeatmapInput,
  slide: { width: number; height: number },
): Promise<NewHeatmap> {
  const region = h.region ?? { x: 0, y: 0, width: slide.width, height: slide.height };
  if (region.x + region.width > slide.width + 1 || region.y + region.height > slide.height + 1)
    throw new BadResult(
      'malformed',
      `heat map ${name}: region ${region.x},${region.y} ${region.width}x${region.height} reaches beyond the slide (${slide.width}x${slide.height})`,
    );
  const expectW = (region.width * h.height) / region.height;
  const expectH = (region.height * h.width) / region.width;
  if (Math.abs(expectW - h.width) > 1 && Math.abs(expectH - h.height) > 1)
    throw new BadResult(
      'malformed',
      `heat map ${name}: ${h.width}x${h.height} does not have the shape of its region (${region.width}x${region.height}): cells must be square`,
    );
  if (h.width * h.height > AI_RESULT_LIMITS.heatmapPixels)
    throw new BadResult('too_large', `heat map ${name}: over ${AI_RESULT_LIMITS.heatmapPixels} values`);
  const range = h.range ?? [0, 1];
  const bytes = base64(h.data);
  let grey: Buffer;
  if (h.encoding === 'float32') {
    if (bytes.byteLength !== h.width * h.height * 4)
      throw new BadResult(
        'malformed',
        `heat map ${name}: ${bytes.byteLength} bytes of float32 data for ${h.width}x${h.height} (expected ${h.width * h.height * 4})`,
      );
    grey = Buffer.alloc(h.width * h.height);
    const [lo, hi] = range;
    const scale = 255 / (hi - lo);
    for (let i = 0; i < grey.length; i++) {
      const v = bytes.readFloatLE(i * 4);
      // NaN is "no value": shown as the bottom of the range.
      grey[i] = Number.isFinite(v) ? Math.round(Math.min(Math.max((v - lo) * scale, 0), 255)) : 0;
    }
  } else {
    try {
      const { data, info } = await sharp(bytes, { limitInputPixels: AI_RESULT_LIMITS.heatmapPixels })
        .extractChannel(0)
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.width !== h.width || info.height !== h.height)
        throw new BadResult(
          'malformed',
          `heat map ${name}: the PNG is ${info.width}x${info.height}, not the ${h.width}x${h.height} stated`,
        );
      grey = data;
    } catch (e) {
      if (e instanceof BadResult) throw e;
      throw new BadResult(
        'malformed',
        `heat map ${name}: not a readable PNG (${(e as Error).message.slice(0, 120)})`,
      );
    }
  }
  const png = await sharp(grey, { raw: { width: h.width, height: h.height, channels: 1 } })
    .toColourspace('b-w')
    .png({ compressionLevel: 6 })
    .toBuffer();
  return {
    name,
    label: h.label ?? name,
    width: h.width,
    height: h.height,
    region_x: region.x,
    region_y: region.y,
    region_width: region.width,
    region_height: region.height,
    range_min: range[0],
    range_max: range[1],
    png,
  };
}

/** The slide-level result as stored. */
export function slideResult(c: AiComplete): {
  label: string;
  score: number | null;
  positive: boolean | null;
  text: string | null;
} | null {
  const r = c.slideResult;
  if (!r) return null;
  return { label: r.label, score: r.score ?? null, positive: r.positive ?? null, text: r.text ?? null };
}
