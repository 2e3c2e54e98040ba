import { mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { AssociatedName, SourceFormat } from '../../../protocol/index.ts';
import { ASSOCIATED_NAMES } from '../../../protocol/index.ts';
import { SlideError } from '../../errors.ts';
import type { OpenOptions, PixelContext, Probe, SlideSource, SourceLevel } from '../types.ts';
import type { OpenslideTarget } from './detect.ts';
import { incompleteMirax, miraxDataDir, missingMiraxFiles } from './mirax.ts';
import { parseVipsProperties, readZip } from './szi.ts';
import { regionReaders } from './regions.ts';
import { INSTALL_HINT, requireOpenslide, run, vipsFailure, vipsheaderBin, type RunResult } from './vips.ts';

/** Intermediate level-0 copy: JPEG at this quality stays well below the pyramid's own loss. */
const INTERMEDIATE_Q = 95;
const INTERMEDIATE_TILE = 256;

/** Fields vips adds to every image; everything else in the header is the slide's own metadata. */
const VIPS_FIELDS = /^(openslide\.associated\.|vips-|slide-)/;

/**
 * A slide read through OpenSlide by the `vips` command. Metadata and associated images come from one
 * cheap vips run at open (a 1x1 crop saved as SZI, which carries every property unabridged and the
 * associated images); pixels are a level-0 conversion to a tiled TIFF in the caller's scratch folder.
 */
export class OpenslideSource implements SlideSource {
  readonly format: SourceFormat;
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly levels: readonly SourceLevel[];
  readonly mppX: number | null;
  readonly mppY: number | null;
  readonly objectivePower: number | null;
  readonly associated: readonly AssociatedName[];
  readonly properties: Readonly<Record<string, string>>;
  readonly rendering: string | null;

  private images: Map<AssociatedName, Buffer>;
  /** Whether regions were read (the region readers then hold the slide open). */
  private regionsRead = false;
  /**
   * Regions read on request (levelRegion), for serving the slide before its conversion; absent for a
   * MIRAX slide with files missing, whose full levels cannot be read.
   */
  readonly levelRegion?: (k: number, x: number, y: number, w: number, h: number) => Promise<Buffer>;

  constructor(
    private readonly target: OpenslideTarget,
    private readonly vipsBin: string,
    name: string,
    properties: Record<string, string>,
    images: Map<AssociatedName, Buffer>,
    /** MIRAX files Slidedat.ini lists that are absent: the slide opens but its full level cannot be read. */
    private readonly missing: readonly string[],
  ) {
    this.format = target.format;
    this.name = name;
    this.properties = Object.freeze(properties);
    this.images = images;
    this.associated = ASSOCIATED_NAMES.filter((n) => images.has(n));
    this.levels = readLevels(properties, target.file);
    this.width = this.levels[0]!.width;
    this.height = this.levels[0]!.height;
    this.mppX = positive(properties['openslide.mpp-x']);
    this.mppY = positive(properties['openslide.mpp-y']);
    this.objectivePower = positive(properties['openslide.objective-power']);
    this.rendering = /FLUORESCENCE/i.test(properties['mirax.GENERAL.SLIDE_TYPE'] ?? '')
      ? 'fluorescence scan: 8-bit RGB as OpenSlide renders it, no channel remapping'
      : null;
    if (missing.length === 0) this.levelRegion = (k, x, y, w, h) => this.region(k, x, y, w, h);
  }

  private region(k: number, x: number, y: number, w: number, h: number): Promise<Buffer> {
    const level = this.levels[k];
    if (!level) return Promise.reject(new SlideError('INTERNAL', `${this.name}: no source level ${k}`));
    this.regionsRead = true;
    // OpenSlide places a region by its level-0 position.
    const d = level.downsample;
    return regionReaders().read(this.target.file, k, Math.round(x * d), Math.round(y * d), w, h);
  }

  async pixels(ctx: PixelContext): Promise<Sharp> {
    if (this.missing.length > 0) throw incompleteMirax(this.missing);
    await requireOpenslide(this.vipsBin, `${this.target.label} slide ${path.basename(this.target.file)}`);
    const input = await vipsSafeInput(this.target, ctx.tmpDir);
    const out = path.join(ctx.tmpDir, 'openslide-level0.tif');
    const save = `[tile,tile-width=${INTERMEDIATE_TILE},tile-height=${INTERMEDIATE_TILE},compression=jpeg,Q=${INTERMEDIATE_Q},bigtiff]`;
    ctx.onProgress?.(0, 'openslide');
    // openslideload's own --rgb blackens the transparent background in vips 8.14; flattening the
    // RGBA it returns (already filled with the slide's background colour) keeps that colour.
    const args = ['flatten', input, `${out}${save}`, '--background', '255 255 255', '--vips-progress'];
    let last = 0;
    let r: RunResult;
    try {
      r = await run(this.vipsBin, args, {
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onPercent: (p) => {
          if (p <= last || p > 100) return;
          last = p;
          ctx.onProgress?.(p / 100, 'openslide');
        },
      });
    } catch (e) {
      await rm(out, { force: true });
      throw spawnError(e, this.target);
    }
    // A failed region read is a warning per tile; vips may still exit 0 with holes in the output.
    if (r.code !== 0 || r.signal || /reading region/i.test(r.stderr)) {
      await rm(out, { force: true });
      throw vipsFailure(r, this.target.file, 'converting');
    }
    ctx.onProgress?.(1, 'openslide');
    return sharp(out, { limitInputPixels: false });
  }

  associatedImage(name: AssociatedName): Promise<Buffer | null> {
    return Promise.resolve(this.images.get(name) ?? null);
  }

  async close(): Promise<void> {
    this.images = new Map();
    if (this.regionsRead) await regionReaders().forget(this.target.file);
  }
}

/** Open an OpenSlide-format slide: check vips, the MIRAX file set, and read metadata. */
export async function openOpenslide(
  probe: Probe,
  target: OpenslideTarget,
  vipsBin: string,
  opts: OpenOptions = {},
): Promise<SlideSource> {
  const what = `${target.label} slide ${path.basename(target.file)}`;
  if (target.format === 'mirax' && (await isDirectory(target.file))) {
    const found = probe.files.filter((f) => path.dirname(f) === probe.path && /\.mrxs$/i.test(f));
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `folder holds ${found.length} MIRAX slides (${found.map((f) => path.basename(f)).join(', ')}): give one .mrxs file`,
    );
  }
  const missing = target.format === 'mirax' ? await missingMiraxFiles(target.file) : [];
  const name = path.basename(probe.path, probe.isDirectory ? '' : path.extname(probe.path));
  if (opts.serving) {
    // To be served before its conversion: the properties from the region reader process, which
    // has OpenSlide loaded already (two `vips` runs cost ~0.4 s); associated images come with the
    // conversion. A slide with files missing cannot be served whole: no region reads for it.
    if (missing.length > 0) throw incompleteMirax(missing);
    let props: Record<string, string>;
    try {
      props = await regionReaders().properties(target.file);
    } catch (e) {
      throw new SlideError(
        'UNSUPPORTED_FORMAT',
        `${path.basename(target.file)}: not read on demand (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(props))
      if (k.includes('.') && !VIPS_FIELDS.test(k)) properties[k] = v;
    return new OpenslideSource(target, vipsBin, name, properties, new Map(), missing);
  }
  await requireOpenslide(vipsBin, what);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'tessera-openslide-'));
  try {
    const input = await vipsSafeInput(target, scratch);
    // vips picks a loader by content: when OpenSlide refuses a damaged file it falls back to its
    // TIFF or ImageMagick loaders, which would decode an NDPI level (one huge strip) whole. Asking
    // the header first costs a few milliseconds and keeps every later call on OpenSlide.
    let loader: RunResult;
    try {
      loader = await run(vipsheaderBin(vipsBin), ['-f', 'vips-loader', input]);
    } catch (e) {
      throw spawnError(e, target);
    }
    if (loader.stdout.trim() !== 'openslideload') {
      throw new SlideError(
        'CORRUPT_FILE',
        `${path.basename(target.file)}: OpenSlide does not recognise it as ${target.label} (damaged or truncated?)`,
      );
    }
    const szi = path.join(scratch, 'meta.szi');
    // attach-associated puts the associated images on the image and dzsave writes them into the SZI;
    // openslideload --associated itself segfaults in vips 8.14.1 for every format.
    let r: RunResult;
    try {
      r = await run(vipsBin, ['crop', `${input}[attach-associated]`, szi, '0', '0', '1', '1']);
    } catch (e) {
      throw spawnError(e, target);
    }
    if (r.code !== 0 || r.signal) throw vipsFailure(r, target.file, 'opening', target.label);
    const entries = readZip(await readFile(szi));
    let props: Record<string, string> | null = null;
    const images = new Map<AssociatedName, Buffer>();
    for (const [entry, data] of entries) {
      if (entry.endsWith('/vips-properties.xml')) props = parseVipsProperties(data.toString('utf8'));
      const assoc = /\/associated_images\/([^/]+)\.jpg$/.exec(entry);
      const assocName = assoc?.[1];
      if (assocName && (ASSOCIATED_NAMES as readonly string[]).includes(assocName)) {
        images.set(assocName as AssociatedName, data);
      }
    }
    if (!props)
      throw new SlideError('CORRUPT_FILE', `${path.basename(target.file)}: OpenSlide returned no metadata`);
    if (props['vips-loader'] !== undefined && props['vips-loader'] !== 'openslideload') {
      throw new SlideError(
        'UNSUPPORTED_FORMAT',
        `${path.basename(target.file)}: OpenSlide cannot read this file`,
      );
    }
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(props)) {
      // Vendor metadata is namespaced ('hamamatsu.', 'mirax.', 'openslide.', 'tiff.'); bare names are vips's.
      if (k.includes('.') && !VIPS_FIELDS.test(k)) properties[k] = v;
    }
    return new OpenslideSource(target, vipsBin, name, properties, images, missing);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function readLevels(p: Record<string, string>, file: string): SourceLevel[] {
  const count = Number(p['openslide.level-count']);
  const levels: SourceLevel[] = [];
  for (let i = 0; i < (Number.isInteger(count) ? count : 0); i++) {
    const width = Number(p[`openslide.level[${i}].width`]);
    const height = Number(p[`openslide.level[${i}].height`]);
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) break;
    // OpenSlide 3.4 gives no tile hint for MIRAX; the camera frame is its natural unit there.
    const tileWidth =
      positive(p[`openslide.level[${i}].tile-width`]) ??
      positive(p['mirax.LAYER_0_LEVEL_0_SECTION.DIGITIZER_WIDTH']) ??
      INTERMEDIATE_TILE;
    const tileHeight =
      positive(p[`openslide.level[${i}].tile-height`]) ??
      positive(p['mirax.LAYER_0_LEVEL_0_SECTION.DIGITIZER_HEIGHT']) ??
      INTERMEDIATE_TILE;
    const downsample = positive(p[`openslide.level[${i}].downsample`]) ?? (levels[0]?.width ?? width) / width;
    levels.push({ width, height, downsample, tileWidth, tileHeight });
  }
  if (levels.length === 0) {
    throw new SlideError('CORRUPT_FILE', `${path.basename(file)}: OpenSlide reports no image size`);
  }
  return levels;
}

function positive(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : null;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * vips reads a trailing `[...]` in a file name as load options, so a name with brackets is reached
 * through a plain-named link (for MIRAX, the data folder is linked beside it under the matching name).
 */
async function vipsSafeInput(target: OpenslideTarget, scratch: string): Promise<string> {
  if (!/[[\]]/.test(target.file)) return target.file;
  const ext = path.extname(target.file);
  const link = path.join(scratch, `slide${ext}`);
  const dataLink = path.join(scratch, 'slide');
  await rm(link, { force: true });
  await symlink(target.file, link);
  if (target.format === 'mirax') {
    await rm(dataLink, { force: true });
    await symlink(miraxDataDir(target.file), dataLink);
  }
  return link;
}

function spawnError(e: unknown, target: OpenslideTarget): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'EACCES') {
    return new SlideError(
      'MISSING_DEPENDENCY',
      `${target.label} slide ${path.basename(target.file)} ${INSTALL_HINT}`,
    );
  }
  return e;
}
