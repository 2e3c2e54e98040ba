import type { AnnotationKind } from '../../../protocol/review.ts';

/**
 * Copies of protocol/review.ts's constants: importing a value from there would build its zod
 * schemas in the bundle. constants.test.ts fails if a copy drifts from the protocol. The class
 * palette is no copy: it comes from protocol/palette.ts, which has no zod.
 */
export const REVIEW_PROTOCOL_VERSION = 3;

export const ANNOTATION_KINDS: readonly AnnotationKind[] = [
  'point',
  'multipoint',
  'line',
  'polyline',
  'rectangle',
  'ellipse',
  'polygon',
  'multipolygon',
  'freehand',
];

/** The built-in palette, used when the server's cannot be read: the protocol's own list. */
export { ANNOTATION_CLASSES } from '../../../protocol/palette.ts';

export const PARTICIPANT_COLORS: readonly string[] = [
  '#4da3ff',
  '#ff7a59',
  '#5ed18f',
  '#f5c542',
  '#c58cff',
  '#ff5fa2',
  '#47d6d6',
  '#b0b742',
];

export const CONFIDENCES = ['low', 'moderate', 'high'] as const;
export type Confidence = (typeof CONFIDENCES)[number];

export const KIND_LABELS: Record<AnnotationKind, string> = {
  point: 'Point',
  multipoint: 'Points',
  line: 'Line',
  polyline: 'Polyline',
  multipolygon: 'Polygons',
  rectangle: 'Rectangle',
  ellipse: 'Ellipse',
  polygon: 'Polygon',
  freehand: 'Freehand',
};

/** How an unclassified annotation is drawn (QuPath's "no class"). */
export const UNCLASSIFIED = { name: 'Unclassified', color: '#c8c8c8' } as const;

/** A class as the palette lists it. */
export type PaletteClass = { readonly name: string; readonly color: string };

/**
 * The colour an annotation is drawn in: its own, else its class's as the palette has it today (an
 * administrator's change shows on every shape of that class; an import keeps the colour it came
 * with in the stored classification, and exports it), else the stored class colour, else the
 * unclassified grey.
 */
export function annotationColour(
  a: { color?: string | null; classification: { name?: string; color: string } | null },
  palette?: readonly PaletteClass[],
): string {
  if (a.color) return a.color;
  const cls = a.classification;
  if (!cls) return UNCLASSIFIED.color;
  return palette?.find((p) => p.name === cls.name)?.color ?? cls.color;
}
