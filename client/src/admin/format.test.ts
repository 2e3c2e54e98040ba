import { describe, expect, it } from 'vitest';
import { dayText, hasCaseload, leaveText, today } from './format.ts';

describe('admin formatting', () => {
  it('writes leave as calendar days, open-ended leave as until further notice', () => {
    expect(dayText('2026-03-03')).toBe('3 Mar 2026');
    expect(leaveText({ from: '2026-03-03', to: '2026-03-09' })).toBe('3 Mar 2026 – 9 Mar 2026');
    expect(leaveText({ from: '2026-03-03', to: '2026-03-03' })).toBe('3 Mar 2026');
    expect(leaveText({ from: '2026-03-03', to: null })).toBe('from 3 Mar 2026, until further notice');
  });
  it('counts days from local midnight, across month ends', () => {
    const now = new Date(2026, 0, 30, 23, 30);
    expect(today(0, now)).toBe('2026-01-30');
    expect(today(3, now)).toBe('2026-02-02');
  });
  it('gives a caseload to pathologists and specialists only', () => {
    expect(hasCaseload('pathologist')).toBe(true);
    expect(hasCaseload('specialist')).toBe(true);
    expect(hasCaseload('lab_manager')).toBe(false);
    expect(hasCaseload('admin')).toBe(false);
  });
});
