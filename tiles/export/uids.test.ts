import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { slideIdOfUid, slideUidMaker } from './uids.ts';

const ROLES = [
  'study',
  'series',
  'instance:level:0',
  'instance:level:7',
  'instance:label',
  'frame-of-reference',
];

describe('slide UIDs', () => {
  it('identified UIDs are valid 2.25 UIDs that lead back to their slide, per role and salt', () => {
    for (let i = 0; i < 200; i++) {
      const id = randomBytes(16).toString('hex');
      const salt = i % 2 ? '' : 'x';
      const uid = slideUidMaker(id, false, salt);
      const seen = new Set<string>();
      for (const role of ROLES) {
        const u = uid(role);
        expect(u).toMatch(/^2\.25\.(0|[1-9]\d*)$/);
        expect(u.length).toBeLessThanOrEqual(64);
        expect(slideIdOfUid(u, role, salt)).toBe(id);
        seen.add(u);
      }
      expect(seen.size).toBe(ROLES.length);
      // Another role's key gives another id: a series UID is not a study UID.
      expect(slideIdOfUid(uid('series'), 'study', salt)).not.toBe(id);
    }
  });

  it('the same slide gives the same UIDs every time', () => {
    const id = 'cbe6efc63fd5ef03a26efa3be59a1343';
    expect(slideUidMaker(id, false, '')('study')).toBe(slideUidMaker(id, false, '')('study'));
    expect(slideUidMaker(id, true, 'SO-1')('study')).toBe(slideUidMaker(id, true, 'SO-1')('study'));
  });

  it('de-identified UIDs do not decode to the slide and differ per study code', () => {
    const id = randomBytes(16).toString('hex');
    const a = slideUidMaker(id, true, 'SO-AAAA')('study');
    const b = slideUidMaker(id, true, 'SO-BBBB')('study');
    expect(a).not.toBe(b);
    expect(a).not.toBe(slideUidMaker(id, false, '')('study'));
    for (const salt of ['', 'SO-AAAA', 'deidentified:SO-AAAA'])
      expect(slideIdOfUid(a, 'study', salt)).not.toBe(id);
  });

  it('anything that is not a 2.25 UID of at most 128 bits decodes to nothing', () => {
    for (const bad of [
      '',
      '1.2.840.10008.1.2.4.50',
      '2.25.',
      '2.25.01',
      '2.25.-1',
      `2.25.${(1n << 128n).toString()}`,
      '2.25.1 ',
      '2.25.1e5',
    ])
      expect(slideIdOfUid(bad, 'study'), bad).toBeNull();
    expect(slideIdOfUid(`2.25.${((1n << 128n) - 1n).toString()}`, 'study')).toMatch(/^[0-9a-f]{32}$/);
    expect(slideIdOfUid('2.25.0', 'study')).toMatch(/^[0-9a-f]{32}$/);
  });
});
