import { describe, expect, it } from 'vitest';
import * as protocol from '../../../protocol/review.ts';
import {
  ANNOTATION_CLASSES,
  ANNOTATION_KINDS,
  CONFIDENCES,
  KIND_LABELS,
  PARTICIPANT_COLORS,
  REVIEW_PROTOCOL_VERSION,
} from './constants.ts';

describe('review constants', () => {
  it('match the protocol exactly', () => {
    expect(ANNOTATION_CLASSES).toEqual(protocol.ANNOTATION_CLASSES);
    expect(ANNOTATION_KINDS).toEqual(protocol.ANNOTATION_KINDS);
    expect(PARTICIPANT_COLORS).toEqual(protocol.PARTICIPANT_COLORS);
    expect(CONFIDENCES).toEqual(protocol.CONFIDENCES);
    expect(REVIEW_PROTOCOL_VERSION).toBe(protocol.REVIEW_PROTOCOL_VERSION);
  });
  it('label every kind', () => {
    expect(Object.keys(KIND_LABELS).sort()).toEqual([...protocol.ANNOTATION_KINDS].sort());
  });
});
