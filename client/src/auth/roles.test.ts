import { describe, expect, it } from 'vitest';
import { ROLE_LABELS as PROTOCOL_LABELS, ROLES } from '../../../protocol/index.ts';
import { initials, ROLE_LABELS, roleLabel } from './roles.ts';

describe('role labels', () => {
  it('match the protocol exactly', () => {
    expect(ROLE_LABELS).toEqual(PROTOCOL_LABELS);
    for (const r of ROLES) expect(roleLabel(r)).toBe(PROTOCOL_LABELS[r]);
  });
});

describe('initials', () => {
  it('takes the first and last word', () => {
    expect(initials('Ada Lovelace')).toBe('AL');
    expect(initials('Maria van der Berg')).toBe('MB');
  });
  it('splits user names on punctuation', () => {
    expect(initials('north.path')).toBe('NP');
    expect(initials('admin')).toBe('AD');
  });
  it('never returns nothing', () => {
    expect(initials('  ')).toBe('?');
  });
});
