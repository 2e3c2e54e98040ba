import { describe, expect, it } from 'vitest';
import {
  containsIdentifier,
  containsNhsNumber,
  isValidNhsNumber,
  randomStudyCode,
  refuseIdentifiers,
} from './identifiers.ts';

describe('NHS number check digit (modulus 11, weights 10..2)', () => {
  it('accepts known-valid numbers', () => {
    // 943 476 5919 is the NHS's published example; by hand: 401 023 2137 (sum 92, check 7),
    // 450 557 7104 (sum 216, check 4), 000 000 0000 (remainder 0: 11, written 0).
    for (const n of ['9434765919', '4010232137', '4505577104', '0000000000'])
      expect(isValidNhsNumber(n), n).toBe(true);
  });

  it('refuses a wrong check digit, a remainder giving 10, and anything not ten digits', () => {
    for (const n of ['9434765918', '9434765910', '4010232138', '943476591', '94347659190', '943476591X'])
      expect(isValidNhsNumber(n), n).toBe(false);
    // 1234567890: sum 1*10+2*9+...+9*2 = 210, 210 mod 11 = 1, check 10 — no valid number starts so.
    for (let last = 0; last <= 9; last++) expect(isValidNhsNumber(`123456789${last}`)).toBe(false);
  });

  it('finds numbers written plain, spaced 3-3-4 or dashed, not inside longer digit runs', () => {
    expect(containsNhsNumber('patient 9434765919 has')).toBe(true);
    expect(containsNhsNumber('NHS no. 943 476 5919.')).toBe(true);
    expect(containsNhsNumber('(943-476-5919)')).toBe(true);
    expect(containsNhsNumber('nhs:9434765919')).toBe(true);
    // Shaped like one but the check digit is wrong: a measurement, a phone number, not an NHS number.
    expect(containsNhsNumber('943 476 5918')).toBe(false);
    expect(containsNhsNumber('12 mm, 3 foci, grade 2')).toBe(false);
    expect(containsNhsNumber('ref 19434765919 and 94347659190')).toBe(false);
  });
});

describe('identifiers in free text', () => {
  it('matches an accession ignoring case and separators', () => {
    for (const q of ['about H26-0042?', 'about h26 0042', 'about H260042', 'about h26/00-42', 'xH26.0042x'])
      expect(containsIdentifier(q, 'H26-0042'), q).toBe(true);
    expect(containsIdentifier('about H26-0043', 'H26-0042')).toBe(false);
    expect(containsIdentifier('anything', '--')).toBe(false);
  });

  it('refuses with IDENTIFIER_IN_TEXT, naming what was found but not its value', () => {
    const ids = [{ what: "the case's accession", value: 'H26-0042' }];
    expect(() => refuseIdentifiers('question', 'grade of h26 0042?', ids)).toThrow(
      expect.objectContaining({ code: 'IDENTIFIER_IN_TEXT', status: 400 }),
    );
    expect(() => refuseIdentifiers('question', 'NHS 943 476 5919, grade?', ids)).toThrow(/NHS number/);
    try {
      refuseIdentifiers('question', 'grade of H26-0042?', ids);
    } catch (e) {
      expect((e as Error).message).not.toContain('H26-0042');
    }
    expect(() => refuseIdentifiers('question', 'Grade of this adenoma?', ids)).not.toThrow();
  });
});

describe('study codes', () => {
  it('are SO- and 8 base32 characters, different every time', () => {
    const codes = new Set(Array.from({ length: 1000 }, randomStudyCode));
    expect(codes.size).toBe(1000);
    for (const c of codes) expect(c).toMatch(/^SO-[A-Z2-7]{8}$/);
  });
});
