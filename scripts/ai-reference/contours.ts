/**
 * Outlines of a binary mask as polygons with holes: each 4-connected region of set pixels becomes
 * one polygon (its outer ring and the rings of the holes inside it), traced along pixel edges
 * ("crack following") and then simplified. Coordinates are in pixel corners: the pixel (x, y)
 * spans x..x+1, y..y+1.
 */

export type Point = [number, number];

export interface Region {
  /** The region's label in `labels` (1-based). */
  label: number;
  /** Pixels in the region (holes excluded). */
  pixels: number;
  /** Outer ring, then holes; each ring open (first point not repeated), y down. */
  rings: Point[][];
}

/** 4-connected labels of the set pixels (0: unset), and each label's pixel count. */
export function labelRegions(
  mask: Uint8Array,
  w: number,
  h: number,
): { labels: Int32Array; sizes: number[] } {
  const labels = new Int32Array(w * h);
  const sizes: number[] = [0];
  // A flood fill's stack never holds a pixel twice: w * h entries are enough.
  const stack = new Int32Array(w * h);
  let next = 0;
  for (let i = 0; i < w * h; i++) {
    if (!mask[i] || labels[i]) continue;
    next++;
    let n = 0;
    let top = 0;
    labels[i] = next;
    stack[top++] = i;
    while (top > 0) {
      const j = stack[--top]!;
      n++;
      const x = j % w;
      if (x > 0 && mask[j - 1] && !labels[j - 1]) {
        labels[j - 1] = next;
        stack[top++] = j - 1;
      }
      if (x < w - 1 && mask[j + 1] && !labels[j + 1]) {
        labels[j + 1] = next;
        stack[top++] = j + 1;
      }
      if (j >= w && mask[j - w] && !labels[j - w]) {
        labels[j - w] = next;
        stack[top++] = j - w;
      }
      if (j + w < w * h && mask[j + w] && !labels[j + w]) {
        labels[j + w] = next;
        stack[top++] = j + w;
      }
    }
    sizes.push(n);
  }
  return { labels, sizes };
}

/** Shoelace area, y down: rings traced here are positive when outer, negative for holes. */
export function ringArea(ring: Point[]): number {
  let s = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x0, y0] = ring[i]!;
    const [x1, y1] = ring[(i + 1) % ring.length]!;
    s += x0 * y1 - x1 * y0;
  }
  return s / 2;
}

/** Perpendicular distance of p from the line through a and b. */
function distance(p: Point, a: Point, b: Point): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = Math.hypot(dx, dy);
  if (len === 0) return Math.hypot(p[0] - a[0], p[1] - a[1]);
  return Math.abs(dy * p[0] - dx * p[1] + b[0] * a[1] - b[1] * a[0]) / len;
}

/** Douglas-Peucker on an open polyline (ends kept), iteratively. */
function simplifyLine(pts: Point[], eps: number): Point[] {
  if (pts.length < 3) return pts;
  const keep = new Uint8Array(pts.length);
  keep[0] = 1;
  keep[pts.length - 1] = 1;
  const spans: [number, number][] = [[0, pts.length - 1]];
  while (spans.length > 0) {
    const [a, b] = spans.pop()!;
    let far = -1;
    let best = eps;
    for (let i = a + 1; i < b; i++) {
      const d = distance(pts[i]!, pts[a]!, pts[b]!);
      if (d > best) {
        best = d;
        far = i;
      }
    }
    if (far >= 0) {
      keep[far] = 1;
      spans.push([a, far], [far, b]);
    }
  }
  return pts.filter((_, i) => keep[i]);
}

/**
 * A closed ring simplified within `eps`: split at its first point and the point farthest from it,
 * each half simplified. A ring that would collapse below a triangle is kept as it was.
 */
export function simplifyRing(ring: Point[], eps: number): Point[] {
  if (ring.length <= 4) return ring;
  let far = 0;
  let best = -1;
  for (let i = 1; i < ring.length; i++) {
    const d = Math.hypot(ring[i]![0] - ring[0]![0], ring[i]![1] - ring[0]![1]);
    if (d > best) {
      best = d;
      far = i;
    }
  }
  const first = simplifyLine(ring.slice(0, far + 1), eps);
  const second = simplifyLine([...ring.slice(far), ring[0]!], eps);
  const out = [...first.slice(0, -1), ...second.slice(0, -1)];
  return out.length >= 3 && Math.abs(ringArea(out)) > 0 ? out : ring;
}

/**
 * Trace every region of `labels` (labelRegions'). Each boundary edge of a set pixel is a directed
 * edge with the pixel on its right (y down: outer rings clockwise, holes counterclockwise); edges
 * are joined end to start, turning right where two leave one corner (which keeps diagonal
 * neighbours apart, as 4-connected labels do). Straight runs become single segments.
 */
export function traceRegions(labels: Int32Array, w: number, h: number, sizes: number[]): Region[] {
  const W = w + 1;
  // Directed edges: start corner, direction (0 right, 1 down, 2 left, 3 up), and the pixel's label.
  // A pixel has at most four; typed arrays grown as needed.
  let cap = 1 << 16;
  let starts = new Int32Array(cap);
  let dirs = new Uint8Array(cap);
  let owner = new Int32Array(cap);
  let count = 0;
  const add = (corner: number, dir: number, label: number): void => {
    if (count === cap) {
      cap *= 2;
      const s2 = new Int32Array(cap);
      s2.set(starts);
      starts = s2;
      const d2 = new Uint8Array(cap);
      d2.set(dirs);
      dirs = d2;
      const o2 = new Int32Array(cap);
      o2.set(owner);
      owner = o2;
    }
    starts[count] = corner;
    dirs[count] = dir;
    owner[count] = label;
    count++;
  };
  const at = (x: number, y: number): number => (x >= 0 && y >= 0 && x < w && y < h ? labels[y * w + x]! : 0);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const l = labels[y * w + x]!;
      if (!l) continue;
      if (at(x, y - 1) !== l) add(y * W + x, 0, l);
      if (at(x + 1, y) !== l) add(y * W + x + 1, 1, l);
      if (at(x, y + 1) !== l) add((y + 1) * W + x + 1, 2, l);
      if (at(x - 1, y) !== l) add((y + 1) * W + x, 3, l);
    }
  const DX = [1, 0, -1, 0];
  const DY = [0, 1, 0, -1];
  // Edges leaving each corner (at most two: a saddle), as edge index + 1 (0: none).
  const corners = (w + 1) * (h + 1);
  const out0 = new Int32Array(corners);
  const out1 = new Int32Array(corners);
  for (let e = 0; e < count; e++) {
    const c = starts[e]!;
    if (out0[c] === 0) out0[c] = e + 1;
    else out1[c] = e + 1;
  }
  const used = new Uint8Array(count);
  const byLabel = new Map<number, Point[][]>();
  for (let e0 = 0; e0 < count; e0++) {
    if (used[e0]) continue;
    const ring: Point[] = [];
    const l0 = owner[e0]!;
    let e = e0;
    let prevDir = -1;
    for (;;) {
      used[e] = 1;
      const s = starts[e]!;
      const d = dirs[e]!;
      if (d !== prevDir) ring.push([s % W, Math.floor(s / W)]);
      prevDir = d;
      const end = s + DX[d]! + DY[d]! * W;
      // The next edge: of the same region, unused (or the first, closing the ring); at a saddle the
      // right turn, then straight on.
      const a = out0[end]! - 1;
      const b = out1[end]! - 1;
      const fits = (c: number): boolean => c >= 0 && owner[c] === l0 && (!used[c] || c === e0);
      let pick = -1;
      if (fits(a) && fits(b)) {
        const right = (d + 1) % 4;
        pick = dirs[a] === right ? a : dirs[b] === right ? b : dirs[a] === d ? a : b;
      } else if (fits(a)) pick = a;
      else if (fits(b)) pick = b;
      if (pick < 0 || pick === e0) break;
      e = pick;
    }
    // The first corner is a turn only if the last edge's direction differs from the first's.
    if (ring.length > 1 && dirs[e]! === dirs[e0]!) ring.shift();
    const l = owner[e0]!;
    const rings = byLabel.get(l);
    if (rings) rings.push(ring);
    else byLabel.set(l, [ring]);
  }
  const regions: Region[] = [];
  for (const [label, rings] of byLabel) {
    rings.sort((a, b) => ringArea(b) - ringArea(a));
    regions.push({ label, pixels: sizes[label] ?? 0, rings });
  }
  return regions.sort((a, b) => a.label - b.label);
}
