import { z } from 'zod';
import { ANNOTATION_CLASSES, type AnnotationClass, AnnotationClassSchema } from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';

/**
 * The annotation classes on offer (name and outline colour), one palette for the whole server, kept
 * by administrators.
 *
 * Legibility rule for the default colours: an outline is drawn over stained tissue, mostly eosin
 * pink with haematoxylin purple nuclei. Each default colour has a WCAG 2 contrast ratio of at least
 * 3:1 (the non-text contrast of WCAG 1.4.11) against the pink HE_PINK and at least 1.5:1 against the
 * purple HE_PURPLE. 3:1 against both is out of reach: the two are only ~4.8:1 apart, so a colour 3:1
 * from each would have to be darker than the purple by 3:1 as well, i.e. near-black (relative
 * luminance ≤ 0.004), which reads as a nucleus. The pink, covering most of a slide, gets the full
 * ratio; the purple, under small nuclei, the weaker one. Very dark colours (luminance ≤ ~0.057)
 * meet both ratios but are excluded (relative luminance at least MIN_LUMINANCE): a dark outline
 * reads as nuclei, debris or a pen mark, as QuPath's near-black Necrosis did. What is left is a
 * narrow luminance band (~0.19–0.205), where saturated hues (red, green, orange, blue, olive) stay
 * easy to tell apart. A palette saved by an administrator is checked for form only.
 */

/** Typical eosin-stained tissue. */
export const HE_PINK = '#f2d4e4';
/** Typical haematoxylin (nuclei). */
export const HE_PURPLE = '#7a4b8c';
export const MIN_CONTRAST_ON_PINK = 3;
export const MIN_CONTRAST_ON_PURPLE = 1.5;
/** No near-black outlines. */
export const MIN_LUMINANCE = 0.1;

/** The classes a new server starts with: the protocol's (migration 0007 seeds the same). */
export const DEFAULT_CLASSES: readonly AnnotationClass[] = ANNOTATION_CLASSES;

export const MAX_CLASSES = 40;

const HEX = /^#[0-9a-fA-F]{6}$/;

function channel(v: number): number {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** WCAG 2 relative luminance of an sRGB colour written #rrggbb. */
export function relativeLuminance(hex: string): number {
  if (!HEX.test(hex)) throw new TypeError(`Expected a colour #rrggbb but received ${JSON.stringify(hex)}`);
  const n = Number.parseInt(hex.slice(1), 16);
  return 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
}

/** WCAG 2 contrast ratio of two colours (#rrggbb): 1 (none) to 21 (black on white). */
export function contrastRatio(hexA: string, hexB: string): number {
  const a = relativeLuminance(hexA);
  const b = relativeLuminance(hexB);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

/** Whether a colour meets the legibility rule above. */
export function legibleOnHE(hex: string): boolean {
  return (
    relativeLuminance(hex) >= MIN_LUMINANCE &&
    contrastRatio(hex, HE_PINK) >= MIN_CONTRAST_ON_PINK &&
    contrastRatio(hex, HE_PURPLE) >= MIN_CONTRAST_ON_PURPLE
  );
}

/** A whole palette as PUT /api/annotation-classes takes it: 1–40 classes, names unique (any case). */
export const PaletteSchema = z
  .array(AnnotationClassSchema)
  .min(1)
  .max(MAX_CLASSES)
  .superRefine((list, c) => {
    const seen = new Set<string>();
    for (const [i, k] of list.entries()) {
      const key = k.name.trim().toLowerCase();
      if (key === '') c.addIssue({ code: 'custom', path: [i, 'name'], message: 'a class needs a name' });
      else if (seen.has(key))
        c.addIssue({ code: 'custom', path: [i, 'name'], message: `class ${k.name} appears twice` });
      seen.add(key);
    }
  });

/** The palette, read and replaced as a whole. */
export class ClassPalette {
  constructor(private readonly db: Db) {}

  async list(): Promise<AnnotationClass[]> {
    const rows = await this.db
      .selectFrom('annotation_classes')
      .select(['name', 'color'])
      .orderBy('position')
      .execute();
    return rows.map((r) => ({ name: r.name, color: r.color }));
  }

  /** Replace the palette (validated by PaletteSchema); colours are stored in lower case. */
  async replace(classes: readonly AnnotationClass[]): Promise<AnnotationClass[]> {
    const list = PaletteSchema.parse(classes).map((k) => ({
      name: k.name.trim(),
      color: k.color.toLowerCase(),
    }));
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('annotation_classes').execute();
      await trx
        .insertInto('annotation_classes')
        .values(list.map((k, position) => ({ ...k, position })))
        .execute();
    });
    return list;
  }
}
