import { describe, expect, it } from 'vitest';
import * as protocol from '../../../protocol/review.ts';
import { DEFAULT_CLASSES, legibleOnHE } from '../../../server/review/classes.ts';
import {
  ANNOTATION_CLASSES,
  annotationColour,
  UNCLASSIFIED,
  ANNOTATION_KINDS,
  CONFIDENCES,
  KIND_LABELS,
  PARTICIPANT_COLORS,
  REVIEW_PROTOCOL_VERSION,
} from './constants.ts';

describe('review constants', () => {
  it('match the protocol exactly', () => {
    expect(ANNOTATION_KINDS).toEqual(protocol.ANNOTATION_KINDS);
    expect(PARTICIPANT_COLORS).toEqual(protocol.PARTICIPANT_COLORS);
    expect(CONFIDENCES).toEqual(protocol.CONFIDENCES);
    expect(REVIEW_PROTOCOL_VERSION).toBe(protocol.REVIEW_PROTOCOL_VERSION);
  });
  it('the fallback palette is the protocol’s list, which is the server’s default, legible on H&E', () => {
    expect(ANNOTATION_CLASSES).toBe(protocol.ANNOTATION_CLASSES);
    expect(DEFAULT_CLASSES).toBe(protocol.ANNOTATION_CLASSES);
    expect(ANNOTATION_CLASSES.map((c) => c.name)).toEqual([
      'Tumor',
      'Stroma',
      'Necrosis',
      'Immune cells',
      'Other',
    ]);
    for (const c of ANNOTATION_CLASSES) expect(legibleOnHE(c.color), c.name).toBe(true);
  });
  it('label every kind', () => {
    expect(Object.keys(KIND_LABELS).sort()).toEqual([...protocol.ANNOTATION_KINDS].sort());
  });
});

describe('the colour an annotation is drawn in', () => {
  const palette = [{ name: 'Necrosis', color: '#c26000' }];
  it('its own colour first, then its class as the palette has it today, then the stored class colour', () => {
    // QuPath exports Necrosis near-black; the palette's (legible on H&E) colour is drawn.
    const imported = { classification: { name: 'Necrosis', color: '#323232' } };
    expect(annotationColour(imported, palette)).toBe('#c26000');
    expect(annotationColour(imported)).toBe('#323232');
    expect(annotationColour({ ...imported, color: '#00ff00' }, palette)).toBe('#00ff00');
    expect(annotationColour({ classification: { name: 'Mitosis', color: '#ff00ff' } }, palette)).toBe(
      '#ff00ff',
    );
    expect(annotationColour({ classification: null }, palette)).toBe(UNCLASSIFIED.color);
  });
});
