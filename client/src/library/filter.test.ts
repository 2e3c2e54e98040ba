import { describe, expect, it } from 'vitest';
import type { SlideDto } from '../../../protocol/index.ts';
import { filterSlides, sortSlides } from './filter.ts';

const slide = (over: Partial<SlideDto>): SlideDto => ({
  id: '0'.repeat(32),
  name: 'x',
  sourceFormat: 'aperio-svs',
  width: 100,
  height: 100,
  tileSize: 256,
  levels: 1,
  mppX: null,
  mppY: null,
  objectivePower: null,
  associated: [],
  createdAt: '2025-01-01T00:00:00Z',
  siteId: 'north',
  access: 'site',
  deidentified: false,
  ...over,
});

const a = slide({
  id: 'a',
  name: 'Case 10 liver',
  sourceFormat: 'dicom',
  width: 5000,
  height: 4000,
  createdAt: '2025-02-01T00:00:00Z',
});
const b = slide({
  id: 'b',
  name: 'case 2 kidney',
  width: 100_000,
  height: 80_000,
  createdAt: '2025-03-01T00:00:00Z',
});
const c = slide({
  id: 'c',
  name: 'Biopsy',
  sourceFormat: 'hamamatsu-ndpi',
  width: 10,
  height: 10,
  createdAt: '2024-12-01T00:00:00Z',
});

describe('library search matches name and scanner format', () => {
  it('matches every word, case-insensitively, in name, format id or label', () => {
    expect(filterSlides([a, b, c], 'case').map((s) => s.id)).toEqual(['a', 'b']);
    expect(filterSlides([a, b, c], 'dicom').map((s) => s.id)).toEqual(['a']);
    expect(filterSlides([a, b, c], 'hamamatsu').map((s) => s.id)).toEqual(['c']);
    expect(filterSlides([a, b, c], 'case kidney').map((s) => s.id)).toEqual(['b']);
    expect(filterSlides([a, b, c], '  ').length).toBe(3);
  });
});

describe('library sort', () => {
  it('sorts names naturally (case 2 before case 10)', () => {
    expect(sortSlides([a, b, c], 'name', 'asc').map((s) => s.id)).toEqual(['c', 'b', 'a']);
  });
  it('sorts by date and by pixel count, both directions', () => {
    expect(sortSlides([a, b, c], 'date', 'desc').map((s) => s.id)).toEqual(['b', 'a', 'c']);
    expect(sortSlides([a, b, c], 'size', 'asc').map((s) => s.id)).toEqual(['c', 'a', 'b']);
    expect(sortSlides([a, b, c], 'size', 'desc').map((s) => s.id)).toEqual(['b', 'a', 'c']);
  });
});
