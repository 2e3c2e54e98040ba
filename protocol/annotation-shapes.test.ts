import { describe, expect, it } from 'vitest';
import type { AnnotationDto } from './review.ts';
import {
  AREA,
  ELLIPSE,
  LINE,
  NONE,
  POINTS,
  ShapesFormatError,
  decodeShapes,
  encodeShapes,
} from './annotation-shapes.ts';

type A = Pick<AnnotationDto, 'id' | 'kind' | 'geometry' | 'classification' | 'color' | 'label'>;
const tumour = { name: 'Tumor', color: '#f50000' };
const list: A[] = [
  { id: 'p', kind: 'point', geometry: { points: [[10, 20]] }, classification: tumour, label: 'a point' },
  {
    id: 'm',
    kind: 'multipoint',
    geometry: {
      points: [
        [1, 2],
        [30, 40],
      ],
    },
    classification: null,
    label: '',
  },
  {
    id: 'e',
    kind: 'ellipse',
    geometry: {
      points: [
        [100, 50],
        [300, 150],
      ],
    },
    classification: tumour,
    color: '#00ff00',
    label: '',
  },
  {
    id: 'l',
    kind: 'polyline',
    geometry: {
      points: [
        [0, 0],
        [5, 5],
        [9, 1],
      ],
    },
    classification: tumour,
    label: 'edge',
  },
  {
    id: 'mp',
    kind: 'multipolygon',
    geometry: {
      // `points` repeats the first part's outer ring.
      points: [
        [0, 0],
        [10, 0],
        [10, 10],
      ],
      parts: [
        {
          points: [
            [0, 0],
            [10, 0],
            [10, 10],
          ],
          holes: [
            [
              [2, 2],
              [3, 2],
              [3, 3],
            ],
          ],
        },
        {
          points: [
            [50, 50],
            [60, 50],
            [60, 70],
          ],
        },
      ],
    },
    classification: tumour,
    label: '',
  },
  { id: 'empty', kind: 'polygon', geometry: { points: [] }, classification: null, label: '' },
];

describe('annotations packed for drawing', () => {
  it('reads back the ids, shapes, boxes, labels and the colour each style is given', () => {
    const bytes = encodeShapes(list, 42);
    const buf = bytes.slice().buffer;
    const d = decodeShapes(
      buf,
      ([color, name, classColor]) => color ?? (name ? `class ${name} ${classColor}` : 'grey'),
    );
    expect(d.seq).toBe(42);
    expect(d.ids).toEqual(list.map((a) => a.id));
    expect(d.colours).toEqual([
      'class Tumor #f50000',
      'grey',
      '#00ff00',
      'class Tumor #f50000',
      'class Tumor #f50000',
      '',
    ]);
    const kinds = Array.from(d.packed.offsets, (o) => d.packed.data[o]);
    expect(kinds).toEqual([POINTS, POINTS, ELLIPSE, LINE, AREA, NONE]);
    const box = (i: number): number[] => Array.from(d.boxes.subarray(4 * i, 4 * i + 4));
    expect(box(0)).toEqual([10, 20, 10, 20]);
    expect(box(1)).toEqual([1, 2, 30, 40]);
    expect(box(2)).toEqual([100, 50, 300, 150]);
    expect(box(3)).toEqual([0, 0, 9, 5]);
    expect(box(4)).toEqual([0, 0, 60, 70]);
    expect(box(5)).toEqual([0, 0, 0, 0]);
    // The multipolygon: three rings (a part, its hole, the second part), each its points.
    const o = d.packed.offsets[4]! + 3;
    expect(d.packed.data[o]).toBe(3);
    expect(Array.from(d.packed.data.subarray(o + 1, o + 8))).toEqual([3, 0, 0, 10, 0, 10, 10]);
    expect(d.labels.map((l) => l && [l.text, l.x, l.y])).toEqual([
      ['a point', 10, 20],
      null,
      null,
      ['edge', 0, 0],
      null,
      null,
    ]);
  });

  it('refuses bytes that are not the packed form, or are cut short', () => {
    const bytes = encodeShapes(list, 1);
    const whole = bytes.slice().buffer;
    expect(() => decodeShapes(new ArrayBuffer(4), () => '')).toThrow(ShapesFormatError);
    expect(() => decodeShapes(new TextEncoder().encode('{"annotations":[]}').buffer, () => '')).toThrow(
      /not annotation shapes/,
    );
    expect(() => decodeShapes(whole.slice(0, 20), () => '')).toThrow(/header cut short/);
    expect(() => decodeShapes(whole.slice(0, whole.byteLength - 8), () => '')).toThrow(ShapesFormatError);
  });
});
