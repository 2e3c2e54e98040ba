import { describe, expect, it } from 'vitest';
import type { AiFindingDto } from '../../../protocol/ai.ts';
import {
  aboveThreshold,
  boxInside,
  cullFindings,
  heatmapMatrix,
  nextVerdict,
  reviewOrder,
  stepFinding,
  thresholdScale,
  type Affine,
} from './findings.ts';

const finding = (id: string, score: number | null, x = 0, y = 0): AiFindingDto => ({
  id,
  runId: 'run',
  kind: 'polygon',
  objectType: 'detection',
  geometry: {
    points: [
      [x, y],
      [x + 10, y],
      [x + 10, y + 10],
    ],
  },
  nucleus: null,
  classification: null,
  label: '',
  color: null,
  measurements: score === null ? {} : { score },
  score,
  verdict: null,
});

const apply = (m: Affine, x: number, y: number) => [m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]];

describe('AI findings: threshold', () => {
  const list = [finding('a', 0.2), finding('b', 0.5), finding('c', 0.9), finding('d', null)];
  it('hides findings scoring below the threshold, keeps those at it and those without a score', () => {
    expect(aboveThreshold(list, 0).map((f) => f.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(aboveThreshold(list, 0.5).map((f) => f.id)).toEqual(['b', 'c', 'd']);
    expect(aboveThreshold(list, 0.95).map((f) => f.id)).toEqual(['d']);
  });
  it('the slider spans 0..1 for probabilities and the layer’s range beyond it', () => {
    expect(thresholdScale(null)).toEqual({ min: 0, max: 1, step: 0.01 });
    expect(thresholdScale([0.1, 0.8])).toEqual({ min: 0, max: 1, step: 0.01 });
    expect(thresholdScale([2, 250])).toEqual({ min: 0, max: 250, step: 1 });
    expect(thresholdScale([-1, 1]).min).toBe(-1);
  });
});

describe('AI findings: stepping through them', () => {
  it('goes surest first, then top to bottom and left to right', () => {
    const order = reviewOrder([
      finding('low', 0.1),
      finding('lower-left', 0.5, 0, 50),
      finding('upper', 0.5, 40, 10),
      finding('upper-left', 0.5, 5, 10),
      finding('none', null),
      finding('top', 0.9),
    ]);
    expect(order.map((f) => f.id)).toEqual(['top', 'upper-left', 'upper', 'lower-left', 'low', 'none']);
  });
  it('N from nothing selected is the first, Shift+N the last; both go round at the ends', () => {
    const l = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
    expect(stepFinding(l, null, 1)?.id).toBe('a');
    expect(stepFinding(l, null, -1)?.id).toBe('c');
    expect(stepFinding(l, 'a', 1)?.id).toBe('b');
    expect(stepFinding(l, 'c', 1)?.id).toBe('a');
    expect(stepFinding(l, 'a', -1)?.id).toBe('c');
    // The selected one was hidden (threshold raised): start again from the first.
    expect(stepFinding(l, 'gone', 1)?.id).toBe('a');
    expect(stepFinding([], null, 1)).toBeNull();
  });
  it('only the findings meeting the view (and its margin) are drawn, in their order', () => {
    const l = [finding('in', 0.5, 100, 100), finding('out', 0.9, 5000, 5000), finding('edge', 0.1, 295, 295)];
    const area = { minX: 0, minY: 0, maxX: 300, maxY: 300 };
    expect(cullFindings(l, area).map((f) => f.id)).toEqual(['in', 'edge']);
    expect(cullFindings(l, { minX: 0, minY: 0, maxX: 1e6, maxY: 1e6 })).toHaveLength(3);
  });
  it('a verdict key pressed again withdraws the verdict; the other key replaces it', () => {
    expect(nextVerdict(null, 'accept')).toBe('accept');
    expect(nextVerdict('accept', 'accept')).toBeNull();
    expect(nextVerdict('accept', 'reject')).toBe('reject');
    expect(nextVerdict('reject', 'reject')).toBeNull();
  });
  it('a finding wholly in view stays put; one reaching outside is brought into view', () => {
    const view = { x: 100, y: 100, width: 500, height: 300 };
    expect(boxInside({ x: 100, y: 100, width: 500, height: 300 }, view)).toBe(true);
    expect(boxInside({ x: 300, y: 200, width: 10, height: 10 }, view)).toBe(true);
    expect(boxInside({ x: 590, y: 200, width: 20, height: 10 }, view)).toBe(false);
    expect(boxInside({ x: 50, y: 50, width: 10, height: 10 }, view)).toBe(false);
  });
});

describe('AI heat maps: laid over their region of the slide', () => {
  const region = { x: 1000, y: 2000, width: 4000, height: 3000 };
  const corners = (m: Affine, w: number, h: number) => [
    apply(m, 0, 0),
    apply(m, w, 0),
    apply(m, 0, h),
    apply(m, w, h),
  ];
  it('the heat map’s corners land on the region’s corners, under zoom and pan', () => {
    const t: Affine = [0.25, 0, 0, 0.25, -30, 12];
    const m = heatmapMatrix(t, region, 200, 150);
    const want = [apply(t, 1000, 2000), apply(t, 5000, 2000), apply(t, 1000, 5000), apply(t, 5000, 5000)];
    corners(m, 200, 150).forEach((p, i) => {
      expect(p[0]).toBeCloseTo(want[i]![0]!);
      expect(p[1]).toBeCloseTo(want[i]![1]!);
    });
  });
  it('and under a rotation (a quarter turn and an odd angle)', () => {
    for (const deg of [90, 37]) {
      const r = (deg * Math.PI) / 180;
      const s = 0.1;
      const t: Affine = [s * Math.cos(r), s * Math.sin(r), -s * Math.sin(r), s * Math.cos(r), 400, -80];
      const m = heatmapMatrix(t, region, 256, 192);
      // A cell centre maps where its slide point does.
      const [u, v] = [17.5, 100.5];
      const slide = [region.x + (u * region.width) / 256, region.y + (v * region.height) / 192];
      const a = apply(m, u, v);
      const b = apply(t, slide[0]!, slide[1]!);
      expect(a[0]).toBeCloseTo(b[0]!);
      expect(a[1]).toBeCloseTo(b[1]!);
    }
  });
});
