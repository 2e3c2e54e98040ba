import type { Mpp, Point } from './geometry.ts';
import type { ViewState } from './viewport.ts';

/**
 * Side-by-side synchronisation. Each slide's view is turned into a common frame (µm when both slides
 * are calibrated, otherwise image pixels); the offset between the two centres at the moment sync was
 * switched on is kept, so a pathologist can line up two sections first and then move them together.
 */
export interface SyncFrame {
  /** Size of one image pixel in the shared unit. */
  sx: number;
  sy: number;
}

export function syncFrames(a: Mpp | null, b: Mpp | null): { a: SyncFrame; b: SyncFrame; physical: boolean } {
  if (a && b) return { a: { sx: a.x, sy: a.y }, b: { sx: b.x, sy: b.y }, physical: true };
  return { a: { sx: 1, sy: 1 }, b: { sx: 1, sy: 1 }, physical: false };
}

export interface SyncAnchor {
  /** Centre of the other view minus centre of this one, in the shared unit. */
  offset: Point;
  /** Rotation of the other view minus this one. */
  rotation: number;
}

function toShared(v: ViewState, f: SyncFrame): Point {
  return { x: v.x * f.sx, y: v.y * f.sy };
}

export function anchorBetween(
  from: ViewState,
  fromFrame: SyncFrame,
  to: ViewState,
  toFrame: SyncFrame,
): SyncAnchor {
  const a = toShared(from, fromFrame);
  const b = toShared(to, toFrame);
  return { offset: { x: b.x - a.x, y: b.y - a.y }, rotation: to.rotation - from.rotation };
}

export function reverseAnchor(a: SyncAnchor): SyncAnchor {
  return { offset: { x: -a.offset.x, y: -a.offset.y }, rotation: -a.rotation };
}

/**
 * The follower's view for a leader's view: same shared-unit centre (plus the anchor offset) and the same
 * shared units per screen pixel, so equal screen distances cover equal tissue distances.
 */
export function followView(
  leader: ViewState,
  leaderFrame: SyncFrame,
  followerFrame: SyncFrame,
  anchor: SyncAnchor,
): ViewState {
  const c = toShared(leader, leaderFrame);
  return {
    x: (c.x + anchor.offset.x) / followerFrame.sx,
    y: (c.y + anchor.offset.y) / followerFrame.sy,
    imageZoom: (leader.imageZoom * followerFrame.sx) / leaderFrame.sx,
    rotation: leader.rotation + anchor.rotation,
  };
}
