import { rm, writeFile } from 'node:fs/promises';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { AssociatedName, Manifest, StoredLevel } from '../../protocol/index.ts';
import { ASSOCIATED_NAMES, ManifestSchema } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import { encodedLevel0, scannerLevel0 } from '../pyramid/level0.ts';
import { type Level0, buildPyramidStream } from '../pyramid/stream-build.ts';
import { tileFitsImage } from '../tiff/writer.ts';
import { asSlideError, detectReader, probe } from '../readers/index.ts';
import { miraxDataDir } from '../readers/openslide/index.ts';
import type { Probe, SlideSource } from '../readers/types.ts';
import { MANIFEST_FILE, SLIDE_FILE, type SlideStore, associatedFile } from '../store/types.ts';
import { contentId, sha256File } from './hash.ts';

export interface IngestOptions {
  tileSize: number;
  jpegQuality: number;
  /** Display name; defaults to the file or folder name without extension. */
  name?: string;
  onProgress?: (percent: number, stage: string) => void;
  signal?: AbortSignal;
  /**
   * Called with the slide's id once its files are on disk, right before it is published; throwing
   * publishes nothing. Not called when the same content is already stored.
   */
  beforePublish?: (id: string) => Promise<void> | void;
}

export interface IngestResult {
  manifest: Manifest;
  /** false when the same content was already in the store (nothing was written). */
  created: boolean;
}

const THUMBNAIL_MAX = 1024;

/**
 * Convert one slide (file or folder) into the store: read it with the reader that recognises it,
 * pyramid-tile level 0 into a JPEG BigTIFF, keep the associated images apart, write the manifest last,
 * publish through the store (whole or not at all). On any failure nothing is visible and nothing blocks a retry.
 */
export async function ingest(input: string, store: SlideStore, opts: IngestOptions): Promise<IngestResult> {
  const report = opts.onProgress ?? (() => {});
  report(0, 'checking');
  const p = await probe(input);
  const reader = await detectReader(p);

  report(1, 'hashing');
  const hashed = await hashSlide(p);
  const existing = await store.manifest(hashed.id);
  if (existing) {
    report(100, 'done');
    return { manifest: existing, created: false };
  }

  let source: SlideSource | null = null;
  const staging = await store.stage();
  const work = await store.workDir();
  try {
    source = await reader.open(p).catch((e: unknown) => {
      throw asSlideError(e);
    });
    // The scanner's JPEG tiles are kept as they are where they can be; other sources are decoded.
    const scanner = await (source.scannerTiles?.() ?? Promise.resolve(null)).catch(() => null);
    let level0: Level0;
    if (scanner) {
      level0 = scannerLevel0(scanner, source.width, source.height, source.name);
    } else {
      report(3, 'reading');
      const image = await source
        .pixels({
          tmpDir: work,
          signal: opts.signal,
          onProgress: (f, stage) => report(3 + Math.round(f * 37), stage),
        })
        .catch((e: unknown) => {
          throw asSlideError(e);
        });
      const tileSize = fittingTileSize(source.width, source.height, opts.tileSize);
      level0 = await encodedLevel0(
        await ensureRgb8(image, source),
        source.width,
        source.height,
        tileSize,
        opts.jpegQuality,
      );
    }
    const base = scanner ? 3 : 40;
    report(base, 'writing pyramid');
    const mpp: [number, number] | null =
      source.mppX && source.mppY
        ? [source.mppX, source.mppY]
        : source.mppX
          ? [source.mppX, source.mppX]
          : null;
    const levels = await buildPyramidStream(level0, path.join(staging.dir, SLIDE_FILE), {
      quality: opts.jpegQuality,
      mpp,
      description: (l) =>
        describeLevel(hashed.id, l, mpp, source!.objectivePower, level0.scanner && l.index === 0),
      signal: opts.signal,
      onProgress: (f) => report(base + Math.round(f * (95 - base)), 'writing pyramid'),
    }).catch((e: unknown) => {
      throw asSlideError(e);
    });
    await rm(work, { recursive: true, force: true });

    report(96, 'associated images');
    const associated = await writeAssociated(source, staging.dir, opts.jpegQuality);
    // Checksums of every stored file (the manifest itself aside), for `tessera verify`.
    const files: Manifest['files'] = {};
    for (const f of [SLIDE_FILE, ...associated.map(associatedFile)]) {
      files[f] = await sha256File(path.join(staging.dir, f));
    }
    const manifest: Manifest = ManifestSchema.parse({
      formatVersion: 1,
      id: hashed.id,
      name: opts.name ?? source.name,
      sourceFormat: source.format,
      sourceFiles: hashed.files,
      width: source.width,
      height: source.height,
      tileSize: level0.tileSize,
      levels: levels.length,
      levelInfo: levels,
      sourceLevels: source.levels.length,
      mppX: source.mppX,
      mppY: source.mppY,
      objectivePower: source.objectivePower,
      associated,
      properties: { ...source.properties },
      rendering: source.rendering,
      files,
      jpegQuality: opts.jpegQuality,
      createdAt: new Date().toISOString(),
    });
    // The manifest is the last file written: its presence marks a complete slide.
    await writeFile(path.join(staging.dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
    report(99, 'publishing');
    const created = await staging.commit(hashed.id, {
      beforePublish: () => opts.beforePublish?.(hashed.id),
    });
    report(100, 'done');
    if (!created) {
      const m = await store.manifest(hashed.id);
      if (m) return { manifest: m, created: false };
    }
    return { manifest, created };
  } catch (e) {
    await staging.abort();
    throw asSlideError(e);
  } finally {
    await rm(work, { recursive: true, force: true });
    await source?.close().catch(() => {});
  }
}

/**
 * The stored TIFF's description of a level: what it is, the slide's id, and the scale, so a reader
 * that ignores the resolution tags still finds µm/px.
 */
export function describeLevel(
  id: string,
  level: StoredLevel,
  mpp: [number, number] | null,
  objective: number | null,
  scanner: boolean,
): string {
  const parts = [
    'Tessera pyramidal TIFF',
    `slide = ${id}`,
    `level = ${level.index}`,
    `downsample = ${level.downsample}`,
  ];
  if (mpp) parts.push(`MPP = ${+(mpp[0] * level.downsample).toPrecision(6)}`);
  if (mpp && mpp[1] !== mpp[0]) parts.push(`MPP-Y = ${+(mpp[1] * level.downsample).toPrecision(6)}`);
  if (objective) parts.push(`AppMag = ${objective}`);
  parts.push(`tiles = ${scanner ? 'scanner' : 'encoded'}`);
  return parts.join('|');
}

/**
 * The tile size asked for, or a smaller one for a slide too small for it: libvips (and so the
 * thumbnail and every libvips-based reader) refuses a tile over 256 px that is 4x the image.
 */
export function fittingTileSize(width: number, height: number, asked: number): number {
  let t = asked;
  while (t > 16 && !tileFitsImage(width, height, t, t)) t /= 2;
  return t;
}

/** Readers promise 8-bit 3-band sRGB; enforce it so one reader's slip cannot store a bad pyramid. */
async function ensureRgb8(image: Sharp, source: SlideSource): Promise<Sharp> {
  const m = await image.metadata();
  if (m.width !== source.width || m.height !== source.height) {
    throw new SlideError(
      'CORRUPT_FILE',
      `reader produced ${m.width}x${m.height} pixels for a ${source.width}x${source.height} slide`,
    );
  }
  if (m.channels === 3 && m.depth === 'uchar' && (m.space === 'srgb' || m.space === undefined)) return image;
  return image.flatten({ background: '#ffffff' }).toColourspace('srgb').removeAlpha();
}

async function writeAssociated(source: SlideSource, dir: string, quality: number): Promise<AssociatedName[]> {
  const out: AssociatedName[] = [];
  for (const name of ASSOCIATED_NAMES) {
    if (name === 'thumbnail') continue;
    if (!source.associated.includes(name)) continue;
    const buf = await source.associatedImage(name).catch(() => null);
    if (!buf) continue;
    try {
      await sharp(buf, { limitInputPixels: 1e8 })
        .flatten({ background: '#ffffff' })
        .toColourspace('srgb')
        .jpeg({ quality })
        .toFile(path.join(dir, associatedFile(name)));
      out.push(name);
    } catch {
      // A damaged label must not cost the whole slide; it is simply not offered.
    }
  }
  // Every stored slide has a thumbnail made from its own pyramid, so it matches the pixels served.
  await thumbnailFromPyramid(
    path.join(dir, SLIDE_FILE),
    path.join(dir, associatedFile('thumbnail')),
    quality,
  );
  out.push('thumbnail');
  return out;
}

async function thumbnailFromPyramid(slide: string, out: string, quality: number): Promise<void> {
  const meta = await sharp(slide, { limitInputPixels: false }).metadata();
  const pages = meta.pages ?? 1;
  // The smallest level at least THUMBNAIL_MAX on its long side keeps the read cheap and sharp.
  let page = 0;
  for (let i = pages - 1; i >= 0; i--) {
    const m = await sharp(slide, { page: i, limitInputPixels: false }).metadata();
    if (Math.max(m.width, m.height) >= THUMBNAIL_MAX || i === 0) {
      page = i;
      break;
    }
  }
  await sharp(slide, { page, limitInputPixels: false })
    .resize(THUMBNAIL_MAX, THUMBNAIL_MAX, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality })
    .toFile(out);
}

/**
 * A MIRAX slide given as its .mrxs file is the file plus its data folder: both count for the id, so
 * a slide whose data changed is not mistaken for the one stored.
 */
async function hashSlide(p: Probe): Promise<Awaited<ReturnType<typeof contentId>>> {
  if (!p.isDirectory && p.ext === '.mrxs') {
    const dataDir = miraxDataDir(p.path);
    const data = await listFiles(dataDir).catch(() => []);
    return contentId(path.dirname(p.path), [p.path, ...data.sort()], true);
  }
  return contentId(p.path, p.files, p.isDirectory);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}
