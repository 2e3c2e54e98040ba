/**
 * Whether two tile servers cut the slide alike: the pixel size of a few tiles at corners and edges,
 * against the Deep Zoom geometry and against each other. Without it a faster server could simply
 * be serving fewer or smaller tiles.
 */
import sharp from 'sharp';
import { type TileRequest, dziGrid, tilePath } from './mix.ts';

export interface TileShape {
  width: number;
  height: number;
  bytes: number;
}

/** What a tile looked like, or why it could not be looked at. */
export type Shapes = Map<string, TileShape | string>;

const key = (t: TileRequest): string => `${t.level}/${t.col}_${t.row}`;

/** First and last tile of the top level and of four levels below it, and four tiles of the mix. */
export function geometrySample(
  width: number,
  height: number,
  mix: readonly TileRequest[],
  tileSize = 256,
): TileRequest[] {
  const top = Math.max(...mix.map((t) => t.level));
  const out: TileRequest[] = [];
  for (const level of [top, top - 1, top - 4, top - 7, top - 8]) {
    if (level < 0) continue;
    const g = dziGrid(width, height, level, tileSize);
    out.push({ level, col: 0, row: 0 }, { level, col: g.cols - 1, row: g.rows - 1 });
  }
  for (let i = 0; i < 4; i++) out.push(mix[Math.floor((i * mix.length) / 4)]!);
  return out;
}

export async function fetchShapes(
  origin: string,
  base: string,
  tiles: readonly TileRequest[],
  headers: Record<string, string> = {},
): Promise<Shapes> {
  const out: Shapes = new Map();
  for (const t of tiles) {
    try {
      const res = await fetch(origin + tilePath(base, t), { headers, signal: AbortSignal.timeout(10_000) });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200) {
        out.set(key(t), `HTTP ${res.status}`);
        continue;
      }
      const meta = await sharp(body).metadata();
      if (meta.format !== 'jpeg') out.set(key(t), `not a JPEG (${meta.format})`);
      else out.set(key(t), { width: meta.width ?? 0, height: meta.height ?? 0, bytes: body.length });
    } catch (e) {
      out.set(key(t), e instanceof Error ? e.message : String(e));
    }
  }
  return out;
}

/** Each tile whose size differs from the Deep Zoom geometry, or from `other` server's, in words. */
export function geometryProblems(
  width: number,
  height: number,
  tiles: readonly TileRequest[],
  shapes: Shapes,
  other?: { name: string; shapes: Shapes },
  tileSize = 256,
): string[] {
  const problems: string[] = [];
  for (const t of tiles) {
    const s = shapes.get(key(t));
    const g = dziGrid(width, height, t.level, tileSize);
    const want = {
      width: Math.min(tileSize, g.width - t.col * tileSize),
      height: Math.min(tileSize, g.height - t.row * tileSize),
    };
    if (typeof s !== 'object') {
      problems.push(`${key(t)}: ${s ?? 'not fetched'}`);
      continue;
    }
    if (s.width !== want.width || s.height !== want.height) {
      problems.push(`${key(t)}: ${s.width}x${s.height}, Deep Zoom says ${want.width}x${want.height}`);
    }
    const o = other?.shapes.get(key(t));
    if (typeof o === 'object' && (o.width !== s.width || o.height !== s.height)) {
      problems.push(`${key(t)}: ${s.width}x${s.height} here, ${o.width}x${o.height} from ${other!.name}`);
    }
  }
  return problems;
}

export function meanBytes(shapes: Shapes): number {
  const ok = [...shapes.values()].filter((s): s is TileShape => typeof s === 'object');
  return ok.reduce((a, s) => a + s.bytes, 0) / Math.max(1, ok.length);
}
