import { describe, expect, it } from 'vitest';
import { formatBytes, formatDate, formatDimensions, formatMpp } from './format.ts';

describe('formatting for the library table', () => {
  it('bytes in decimal units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1_860_000)).toBe('1.9 MB');
    expect(formatBytes(52_000_000_000)).toBe('52 GB');
  });
  it('dimensions grouped', () => {
    expect(formatDimensions(100000, 80000)).toBe('100,000 × 80,000 px');
  });
  it('µm/px: one value when square, both when not, unknown when absent', () => {
    expect(formatMpp(0.499, 0.499)).toBe('0.499');
    expect(formatMpp(0.25, 0.5)).toBe('0.25 × 0.5');
    expect(formatMpp(null, null)).toBe('unknown');
  });
  it('dates without locale surprises', () => {
    expect(formatDate('not a date')).toBe('not a date');
    expect(formatDate('2025-03-14T09:26:00')).toBe('2025-03-14 09:26');
  });
});
