import sharp from 'sharp';
import type { AiComplete, AiHeatmapInput, AiJobRequest } from '../../protocol/index.ts';
import { type Point, labelRegions, ringArea, simplifyRing, traceRegions } from './contours.ts';
import { haematoxylin, tissueMask } from './stain.ts';

/** The thumbnail tissue is found on (its longer side). */
export const THUMBNAIL_PX = 1024;
/** The heat map's longer side, in cells. */
export const HEATMAP_CELLS = 256;
/** Regions smaller than this share of the thumbnail are specks, not tissue; holes likewise. */
const MIN_REGION_SHARE = 0.0004;
/** Outline simplification, thumbnail pixels. */
const SIMPLIFY_PX = 0.75;
/** A slide with at least this share of tissue is called positive for tissue. */
export const POSITIVE_SHARE = 0.01;

export interface TissueResult {
  features: unknown[];
  tissueShare: number;
  regions: number;
  heatmap: AiHeatmapInput;
  meanHaematoxylin: number;
}

const round = (v: number, k = 100): number => Math.round(v * k) / k;

/**
 * Tissue regions and a haematoxylin-density heat map from a slide's thumbnail (RGB, `w` x `h`,
 * `channels` per pixel), in the slide's full-resolution coordinates (`slideW` x `slideH`).
 */
export function analyse(
  rgb: Uint8Array,
  w: number,
  h: number,
  channels: number,
  slide: { width: number; height: number; mppX: number | null; mppY: number | null },
): TissueResult {
  const mask = tissueMask(rgb, w, h, channels);
  const hx = haematoxylin(rgb, channels);
  const { labels, sizes } = labelRegions(mask, w, h);
  // Each region's mean haematoxylin (its findings' score).
  const hSum = new Float64Array(sizes.length);
  for (let i = 0; i < w * h; i++) if (labels[i]) hSum[labels[i]!]! += hx[i]!;
  const minArea = Math.max(9, MIN_REGION_SHARE * w * h);
  const sx = slide.width / w;
  const sy = slide.height / h;
  const toSlide = (ring: Point[]): number[][] => {
    const pts = simplifyRing(ring, SIMPLIFY_PX).map(([x, y]) => [round(x * sx), round(y * sy)]);
    return [...pts, pts[0]!];
  };
  const features: unknown[] = [];
  let tissuePixels = 0;
  for (const region of traceRegions(labels, w, h, sizes)) {
    const [outer, ...holes] = region.rings;
    if (!outer || ringArea(outer) < minArea) continue;
    const kept = holes.filter((r) => -ringArea(r) >= minArea);
    const area = ringArea(outer) + kept.reduce((s, r) => s + ringArea(r), 0);
    tissuePixels += area;
    const areaPx = area * sx * sy;
    const measurements: Record<string, number> = {
      score: round(Math.min(1, hSum[region.label]! / Math.max(1, region.pixels)), 1000),
      'Area px^2': Math.round(areaPx),
    };
    if (slide.mppX && slide.mppY)
      measurements['Area mm^2'] = round((areaPx * slide.mppX * slide.mppY) / 1e6, 10_000);
    features.push({
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [toSlide(outer), ...kept.map(toSlide)] },
      properties: {
        objectType: 'annotation',
        name: 'Tissue',
        classification: { name: 'Tissue', color: [60, 160, 90] },
        measurements,
      },
    });
  }
  // Heat map: square cells of the slide, each the mean haematoxylin of the thumbnail pixels in it.
  const cell = Math.max(slide.width, slide.height) / HEATMAP_CELLS;
  const hw = Math.max(1, Math.round(slide.width / cell));
  const hh = Math.max(1, Math.round(slide.height / cell));
  const values = new Float32Array(hw * hh);
  let hTotal = 0;
  let hCount = 0;
  for (let cy = 0; cy < hh; cy++) {
    const y0 = Math.floor((cy * h) / hh);
    const y1 = Math.max(y0 + 1, Math.floor(((cy + 1) * h) / hh));
    for (let cx = 0; cx < hw; cx++) {
      const x0 = Math.floor((cx * w) / hw);
      const x1 = Math.max(x0 + 1, Math.floor(((cx + 1) * w) / hw));
      let s = 0;
      let n = 0;
      for (let y = y0; y < y1 && y < h; y++)
        for (let x = x0; x < x1 && x < w; x++) {
          const i = y * w + x;
          // Glass has no stain worth mapping: it counts as none.
          if (mask[i]) {
            s += hx[i]!;
            hTotal += hx[i]!;
            hCount++;
          }
          n++;
        }
      values[cy * hw + cx] = n ? s / n : 0;
    }
  }
  return {
    features,
    tissueShare: tissuePixels / (w * h),
    regions: features.length,
    meanHaematoxylin: hCount ? hTotal / hCount : 0,
    heatmap: {
      label: 'Haematoxylin density (optical density)',
      region: { x: 0, y: 0, width: slide.width, height: slide.height },
      width: hw,
      height: hh,
      encoding: 'float32',
      data: Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64'),
      range: [0, 1],
    },
  };
}

/** A failed request to Tessera, with what it answered. */
class TesseraError extends Error {}

/**
 * One job through the contract: read the slide through the URLs and token the job gives (its
 * detail, IIIF info and thumbnail), find tissue and map haematoxylin, post the findings, the heat
 * map and the slide-level result. On any failure it tells Tessera why (and throws).
 */
export async function runJob(job: AiJobRequest, log: (m: string) => void = () => {}): Promise<TissueResult> {
  const auth = { authorization: `Bearer ${job.token}` };
  const call = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const res = await fetch(url, {
      ...init,
      headers: { ...auth, ...(init.headers as Record<string, string>) },
    });
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new TesseraError(
        `${init.method ?? 'GET'} ${new URL(url).pathname}: HTTP ${res.status} ${text.slice(0, 200)}`,
      );
    }
    return res;
  };
  const post = (path: string, body: unknown, method = 'POST'): Promise<Response> =>
    call(`${job.urls.results}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  try {
    await post('/progress', { percent: 5, stage: 'reading the slide' });
    const slide = (await (await call(job.urls.slide)).json()) as {
      width: number;
      height: number;
      mppX: number | null;
      mppY: number | null;
    };
    const info = (await (await call(`${job.urls.iiif}/info.json`)).json()) as {
      width: number;
      height: number;
    };
    if (info.width !== slide.width || info.height !== slide.height)
      throw new Error(`IIIF says ${info.width}x${info.height}, the slide ${slide.width}x${slide.height}`);
    const jpeg = Buffer.from(await (await call(`${job.urls.thumbnail}?max=${THUMBNAIL_PX}`)).arrayBuffer());
    const { data, info: px } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    await post('/progress', { percent: 30, stage: 'finding tissue' });
    const result = analyse(data, px.width, px.height, px.channels, slide);
    await post('/progress', { percent: 70, stage: 'posting results' });
    await call(`${job.urls.results}/annotations`, {
      method: 'PUT',
      headers: { 'content-type': 'application/geo+json' },
      body: JSON.stringify({ type: 'FeatureCollection', features: result.features }),
    });
    await post('/heatmaps/haematoxylin', result.heatmap, 'PUT');
    const pct = (result.tissueShare * 100).toFixed(1);
    const complete: AiComplete = {
      slideResult: {
        label: result.tissueShare >= POSITIVE_SHARE ? 'Tissue present' : 'No tissue',
        score: round(result.tissueShare, 10_000),
        positive: result.tissueShare >= POSITIVE_SHARE,
        text: `Tissue covers ${pct} % of the slide in ${result.regions} region(s); mean haematoxylin density ${result.meanHaematoxylin.toFixed(3)} OD.`,
      },
    };
    await post('/complete', complete);
    log(`job ${job.job.id}: ${result.regions} tissue region(s), ${pct} % of the slide`);
    return result;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log(`job ${job.job.id} failed: ${message}`);
    // Tell Tessera, unless it is Tessera that refused (then the job has failed already).
    if (!(e instanceof TesseraError))
      await post('/fail', { message: message.slice(0, 1000) }).catch(() => undefined);
    throw e;
  }
}
