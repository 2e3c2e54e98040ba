/**
 * The default annotation classes (QuPath's names where it has them) and their outline colours: the
 * one list that the server starts with (migration 0007 seeds the same colours, written out) and that
 * the client falls back on when the server's palette cannot be read. Kept free of zod so the client
 * bundle imports it without the schemas.
 *
 * The colours meet the H&E legibility rule of server/review/classes.ts: a WCAG contrast of at least
 * 3:1 against eosin pink and 1.5:1 against haematoxylin purple, and no near-black.
 */
export const ANNOTATION_CLASSES = [
  { name: 'Tumor', color: '#f50000' },
  { name: 'Stroma', color: '#008f00' },
  { name: 'Necrosis', color: '#c26000' },
  { name: 'Immune cells', color: '#0073ff' },
  { name: 'Other', color: '#8b7b00' },
] as const satisfies readonly { name: string; color: string }[];
