import { describe, expect, it } from 'vitest';
import * as protocol from '../../../protocol/cases.ts';
import {
  CASE_STATUSES,
  PRIORITIES,
  specimenLabel,
  STATUS_LABELS,
  SUBSPECIALTIES,
  SUBSPECIALTY_LABELS,
} from './constants.ts';

describe('case constants', () => {
  it('match the protocol exactly', () => {
    expect(SUBSPECIALTIES).toEqual(protocol.SUBSPECIALTIES);
    expect(PRIORITIES).toEqual(protocol.PRIORITIES);
    expect(CASE_STATUSES).toEqual(protocol.CASE_STATUSES);
  });
  it('label every value', () => {
    expect(Object.keys(SUBSPECIALTY_LABELS).sort()).toEqual([...protocol.SUBSPECIALTIES].sort());
    expect(Object.keys(STATUS_LABELS).sort()).toEqual([...protocol.CASE_STATUSES].sort());
  });
  it('spells specimen types as words', () => {
    expect(specimenLabel('frozen_section')).toBe('Frozen section');
    expect(specimenLabel('biopsy')).toBe('Biopsy');
  });
});
