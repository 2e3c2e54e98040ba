import { describe, expect, it } from 'vitest';
import {
  applyFilter,
  authorsOf,
  classCounts,
  isFiltered,
  NO_FILTER,
  toggleClass,
  type AnnotationFilter,
} from './annotation-filter.ts';

const TUMOR = { name: 'Tumor', color: '#c83232' };
const STROMA = { name: 'Stroma', color: '#96c896' };
const PALETTE = [TUMOR, STROMA, { name: 'Other', color: '#ffc800' }];

const a = (id: string, cls: { name: string; color: string } | null, author: [string, string]) => ({
  id,
  classification: cls,
  color: null,
  authorId: author[0],
  authorName: author[1],
});
const NORA: [string, string] = ['u-nora', 'Nora North'];
const SAM: [string, string] = ['u-sam', 'Sam South'];
const LIST = [
  a('1', TUMOR, NORA),
  a('2', STROMA, SAM),
  a('3', null, NORA),
  a('4', TUMOR, SAM),
  a('5', { name: 'Mitosis', color: '#00ffff' }, NORA),
];
const ids = (l: { id: string }[]) => l.map((x) => x.id);

describe('annotation filters (list and slide)', () => {
  it('no filter keeps everything', () => {
    expect(ids(applyFilter(LIST, NO_FILTER))).toEqual(['1', '2', '3', '4', '5']);
    expect(isFiltered(NO_FILTER)).toBe(false);
  });

  it('hiding a class hides its annotations; showing it again brings them back', () => {
    const f = toggleClass(NO_FILTER, 'Tumor');
    expect(ids(applyFilter(LIST, f))).toEqual(['2', '3', '5']);
    expect(isFiltered(f)).toBe(true);
    expect(ids(applyFilter(LIST, toggleClass(f, 'Tumor')))).toEqual(['1', '2', '3', '4', '5']);
    // The filter it came from is left as it was.
    expect(NO_FILTER.hiddenClasses.size).toBe(0);
  });

  it('unclassified annotations hide under "Unclassified"', () => {
    expect(ids(applyFilter(LIST, toggleClass(NO_FILTER, 'Unclassified')))).toEqual(['1', '2', '4', '5']);
  });

  it('an author filter keeps one person’s, and combines with hidden classes', () => {
    const f: AnnotationFilter = { hiddenClasses: new Set(), author: 'u-sam' };
    expect(ids(applyFilter(LIST, f))).toEqual(['2', '4']);
    expect(ids(applyFilter(LIST, toggleClass(f, 'Stroma')))).toEqual(['4']);
  });

  it('class counts follow the palette, then other classes, unclassified last', () => {
    expect(classCounts(LIST, PALETTE)).toEqual([
      { name: 'Tumor', color: '#c83232', count: 2 },
      { name: 'Stroma', color: '#96c896', count: 1 },
      { name: 'Mitosis', color: '#00ffff', count: 1 },
      { name: 'Unclassified', color: '#c8c8c8', count: 1 },
    ]);
    // The palette's colour wins over the one stored with the annotation (an admin changed it).
    expect(classCounts([a('9', { name: 'Tumor', color: '#000000' }, NORA)], PALETTE)[0]!.color).toBe(
      '#c83232',
    );
  });

  it('authors are listed once each, by name, with their counts', () => {
    expect(authorsOf(LIST)).toEqual([
      { id: 'u-nora', name: 'Nora North', count: 3 },
      { id: 'u-sam', name: 'Sam South', count: 2 },
    ]);
  });
});
