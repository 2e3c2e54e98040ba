import { z } from 'zod';

/** Scanner / file formats Tessera reads. */
export const SOURCE_FORMATS = [
  'aperio-svs',
  'generic-tiff',
  'ome-tiff',
  'qptiff',
  'dicom',
  'hamamatsu-ndpi',
  'mirax',
  'openslide',
  'czi',
] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

/** Associated images kept apart from the pyramid so they can be withheld (they may identify a patient). */
export const ASSOCIATED_NAMES = ['label', 'macro', 'thumbnail'] as const;
export type AssociatedName = (typeof ASSOCIATED_NAMES)[number];

export const StoredLevelSchema = z.object({
  /** 0 = full resolution; each next level halves (rounding down, never below 1 px). */
  index: z.number().int().nonnegative(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  downsample: z.number().positive(),
  tilesX: z.number().int().positive(),
  tilesY: z.number().int().positive(),
  /**
   * true: the level's tiles are the scanner's own compressed data, unchanged; false: encoded here
   * from decoded pixels. Absent in slides stored before this was recorded.
   */
  scanner: z.boolean().optional(),
});
export type StoredLevel = z.infer<typeof StoredLevelSchema>;

/** manifest.json of a stored slide. */
export const ManifestSchema = z.object({
  formatVersion: z.literal(1),
  id: z.string().regex(/^[0-9a-f]{32}$/),
  name: z.string(),
  sourceFormat: z.enum(SOURCE_FORMATS),
  sourceFiles: z.array(
    z.object({ path: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string() }),
  ),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  tileSize: z.number().int().positive(),
  /** Number of stored pyramid levels (full resolution down to one tile). */
  levels: z.number().int().positive(),
  levelInfo: z.array(StoredLevelSchema),
  sourceLevels: z.number().int().positive(),
  mppX: z.number().positive().nullable(),
  mppY: z.number().positive().nullable(),
  objectivePower: z.number().positive().nullable(),
  associated: z.array(z.enum(ASSOCIATED_NAMES)),
  /** Vendor metadata as read from the source (may identify a patient; never shown de-identified). */
  properties: z.record(z.string(), z.string()),
  /** How the source's pixels became 8-bit RGB (e.g. channel mapping of fluorescence images). */
  rendering: z.string().nullable(),
  files: z.record(z.string(), z.object({ bytes: z.number().int().nonnegative(), sha256: z.string() })),
  jpegQuality: z.number().int().min(1).max(100),
  createdAt: z.string(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/**
 * Build the manifest validator now: zod compiles a schema's checks on its first use (5–10 ms here),
 * which a server otherwise pays inside the first request that reads or makes a manifest, such as an
 * upload's 202. True when the sample it checks is valid (every field's check has run).
 */
export function precompileManifestSchema(): boolean {
  const sha256 = '0'.repeat(64);
  return ManifestSchema.safeParse({
    formatVersion: 1,
    id: '0'.repeat(32),
    name: 'sample',
    sourceFormat: 'generic-tiff',
    sourceFiles: [{ path: 'sample.tif', bytes: 1, sha256 }],
    width: 512,
    height: 256,
    tileSize: 256,
    levels: 2,
    levelInfo: [
      { index: 0, width: 512, height: 256, downsample: 1, tilesX: 2, tilesY: 1, scanner: true },
      { index: 1, width: 256, height: 128, downsample: 2, tilesX: 1, tilesY: 1 },
    ],
    sourceLevels: 1,
    mppX: 0.25,
    mppY: 0.25,
    objectivePower: 40,
    associated: ['label'],
    properties: { 'tiff.Software': 'sample' },
    rendering: null,
    files: { 'slide.tif': { bytes: 1, sha256 } },
    jpegQuality: 90,
    createdAt: new Date(0).toISOString(),
  }).success;
}

/** What `tessera ingest --json` prints, one line per slide. */
export interface IngestSummary {
  id: string;
  name: string;
  sourceFormat: SourceFormat;
  width: number;
  height: number;
  levels: number;
  tileSize: number;
  mppX: number | null;
  mppY: number | null;
  objectivePower: number | null;
}

export function ingestSummary(m: Manifest): IngestSummary {
  return {
    id: m.id,
    name: m.name,
    sourceFormat: m.sourceFormat,
    width: m.width,
    height: m.height,
    levels: m.levels,
    tileSize: m.tileSize,
    mppX: m.mppX,
    mppY: m.mppY,
    objectivePower: m.objectivePower,
  };
}

/** A slide as listed by the API. */
export interface SlideDto {
  id: string;
  name: string;
  sourceFormat: SourceFormat;
  width: number;
  height: number;
  tileSize: number;
  levels: number;
  mppX: number | null;
  mppY: number | null;
  objectivePower: number | null;
  associated: AssociatedName[];
  createdAt: string;
  /** Owning site (null: not yet assigned; visible to admins only). */
  siteId: string | null;
  /**
   * How the asking user sees it: `site` (their own site's, or any for an admin), `share` (through a
   * share). De-identified: name is the study code, label and macro withheld, metadata scrubbed.
   */
  access: 'site' | 'share';
  deidentified: boolean;
  /**
   * Absent once the slide is stored. While its store copy is made the slide is served from its
   * source (`converting`, with the percent done); a conversion that failed leaves it served from its
   * source (`source`) when the source still reads, else `failed` (tiles answer 410), with the reason.
   */
  conversion?: SlideConversion;
}

export interface SlideConversion {
  state: 'converting' | 'source' | 'failed';
  percent: number;
  reason: string | null;
}

/** `GET /api/slides/{id}`: the slide plus its vendor metadata (scrubbed when de-identified). */
export interface SlideDetailDto extends SlideDto {
  properties: Record<string, string>;
  rendering: string | null;
}
