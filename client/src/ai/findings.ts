import type { AiFindingDto, SlideRegion, Verdict } from '../../../protocol/ai.ts';
import { geometryRect, overlaps, type Rect } from '../viewer/cull.ts';

/** `[a, b, c, d, e, f]`: screen = (a·x + c·y + e, b·x + d·y + f), the viewer's image → screen map. */
export type Affine = readonly [number, number, number, number, number, number];

/**
 * The findings drawn at a score threshold: those scoring at least `min`. A finding without a
 * score has nothing to compare and stays shown.
 */
export function aboveThreshold<T extends Pick<AiFindingDto, 'score'>>(
  findings: readonly T[],
  min: number,
): T[] {
  return findings.filter((f) => f.score === null || f.score >= min);
}

/**
 * The order findings are stepped through: highest score first (what an algorithm is surest of),
 * then top to bottom, left to right on the slide, so the order is stable.
 */
export function reviewOrder<T extends Pick<AiFindingDto, 'id' | 'score' | 'geometry'>>(
  findings: readonly T[],
): T[] {
  const top = (f: T) => {
    let x = Infinity;
    let y = Infinity;
    for (const [px, py] of f.geometry.points) {
      if (py < y || (py === y && px < x)) {
        x = px;
        y = py;
      }
    }
    return { x, y };
  };
  const keyed = findings.map((f) => ({ f, at: top(f) }));
  keyed.sort(
    (a, b) =>
      (b.f.score ?? -Infinity) - (a.f.score ?? -Infinity) ||
      a.at.y - b.at.y ||
      a.at.x - b.at.x ||
      (a.f.id < b.f.id ? -1 : a.f.id > b.f.id ? 1 : 0),
  );
  return keyed.map((k) => k.f);
}

/**
 * The finding after (`step` 1) or before (-1) `currentId` in `ordered`, going round at either
 * end; the first (or last) when nothing, or something no longer listed, is selected.
 */
export function stepFinding<T extends { id: string }>(
  ordered: readonly T[],
  currentId: string | null,
  step: 1 | -1,
): T | null {
  if (ordered.length === 0) return null;
  const i = currentId === null ? -1 : ordered.findIndex((f) => f.id === currentId);
  if (i < 0) return step === 1 ? ordered[0]! : ordered[ordered.length - 1]!;
  return ordered[(i + step + ordered.length) % ordered.length]!;
}

/**
 * What pressing a verdict key does to a target already judged `current`: the same verdict again
 * withdraws it (null), another one replaces it.
 */
export function nextVerdict(current: Verdict | null, pressed: Verdict): Verdict | null {
  return current === pressed ? null : pressed;
}

/** The threshold slider's span and step from a layer's score range (scores are usually 0..1). */
export function thresholdScale(range: readonly [number, number] | null): {
  min: number;
  max: number;
  step: number;
} {
  if (!range) return { min: 0, max: 1, step: 0.01 };
  const min = Math.min(0, range[0]);
  const max = Math.max(1, range[1]);
  const step = max - min > 10 ? 1 : 0.01;
  return { min, max, step };
}

/**
 * The CSS transform that lays a `width` x `height` heat map over `region` of the slide (level-0
 * pixels), composed with the image → screen map: its cells land on the slide under every pan, zoom
 * and rotation, since both are one affine map.
 */
export function heatmapMatrix(t: Affine, region: SlideRegion, width: number, height: number): Affine {
  const [a, b, c, d, e, f] = t;
  const sx = region.width / width;
  const sy = region.height / height;
  return [a * sx, b * sx, c * sy, d * sy, a * region.x + c * region.y + e, b * region.x + d * region.y + f];
}

/** Whether box `inner` lies wholly inside `outer` (both level-0 pixels): a finding already in view stays put. */
export function boxInside(
  inner: { x: number; y: number; width: number; height: number },
  outer: { x: number; y: number; width: number; height: number },
): boolean {
  return (
    inner.x >= outer.x &&
    inner.y >= outer.y &&
    inner.x + inner.width <= outer.x + outer.width &&
    inner.y + inner.height <= outer.y + outer.height
  );
}

const rects = new WeakMap<object, Rect>();

/**
 * The findings whose box meets `area` (level-0 pixels, the view and a margin), in their order:
 * only those are drawn, so a layer of thousands of cells costs what the view holds.
 */
export function cullFindings<T extends Pick<AiFindingDto, 'geometry'>>(
  findings: readonly T[],
  area: Rect,
): T[] {
  return findings.filter((f) => {
    let r = rects.get(f);
    if (!r) rects.set(f, (r = geometryRect(f.geometry)));
    return overlaps(r, area);
  });
}
