import type { GeoJsonFeatureError } from '../../../protocol/geojson.ts';

/**
 * Rows listed at first, and added per "Show more": a row costs layout, and its colour swatch a paint
 * layer of its own, so 5,000 rows made the first view ~1.4 s slower and every zoom or pan frame
 * 150-450 ms longer (the page's layers rebuilt on each frame).
 */
export const LIST_PAGE = 200;

/** The first `limit` rows, extended to the selected annotation's (picked on the slide, it is listed). */
export function listedRows<T extends { id: string }>(
  rows: readonly T[],
  limit: number,
  selectedId: string | null,
): readonly T[] {
  if (rows.length <= limit) return rows;
  const at = selectedId === null ? -1 : rows.findIndex((a) => a.id === selectedId);
  return rows.slice(0, Math.max(limit, at + 1));
}

export interface ImportOutcome {
  ok: boolean;
  text: string;
  /** Features left out, by their index in the file. */
  errors?: readonly GeoJsonFeatureError[];
}

/** The server's import report inside an error body, when it has one. */
export function reportOf(body: unknown): { errors: GeoJsonFeatureError[] } | null {
  const errors = (body as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) && errors.length > 0 ? { errors: errors as GeoJsonFeatureError[] } : null;
}

/** "Imported 7 of 10 features from x.geojson; 3 could not be imported:" and the list. */
export function importOutcome(
  file: string,
  imported: number,
  errors: readonly GeoJsonFeatureError[],
): ImportOutcome {
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (errors.length === 0)
    return { ok: true, text: `Imported ${plural(imported, 'annotation')} from ${file}.` };
  // A last entry may count the unlisted rest ("N more bad features (not listed)").
  const more = /^(\d+) more bad features/.exec(errors.at(-1)!.reason);
  const refused = errors.length + (more ? Number(more[1]) - 1 : 0);
  return {
    ok: imported > 0,
    text: `Imported ${imported} of ${plural(imported + refused, 'feature')} from ${file}; ${refused} could not be imported:`,
    errors,
  };
}

/** The reason without the "features[i]: " the server starts it with (the index is shown apart). */
export const featureReason = (e: GeoJsonFeatureError): string => e.reason.replace(/^features\[\d+\]: /, '');
