import type { Point } from './geometry.ts';
import type { ViewState } from './viewport.ts';

/**
 * Side-by-side comparison in physical units. Each slide's view is expressed in a shared unit: µm when
 * both slides carry µm/px, otherwise a fraction of each image's width and height (two scans of one
 * section then line up even though nothing says how big a pixel is). A view in shared units is its
 * centre and how many units one screen pixel covers, so equal screen distances show equal tissue
 * distances on both sides however different the scans' pixel sizes are.
 *
 * The two slides are tied by a link: a rotation and a translation taking a point of slide A (shared
 * units) to the point of slide B that is shown at the same place on screen. Opening a comparison uses
 * the identity (same physical place); switching sync back on keeps the current centres, so two
 * sections lined up by hand then move together.
 */

export interface SlideGeometry {
  width: number;
  height: number;
  mppX: number | null;
  mppY: number | null;
}

/** Size of one image pixel in the shared unit, along x and y. */
export interface SlideFrame {
  sx: number;
  sy: number;
}

export type CompareUnit = 'um' | 'fraction';

export interface CompareFrames {
  a: SlideFrame;
  b: SlideFrame;
  unit: CompareUnit;
}

function mppFrame(g: SlideGeometry): SlideFrame | null {
  const x = g.mppX ?? g.mppY;
  const y = g.mppY ?? g.mppX;
  if (x === null || y === null || !(x > 0) || !(y > 0)) return null;
  return { sx: x, sy: y };
}

/** µm when both slides are calibrated, else fractions of each image. */
export function compareFrames(a: SlideGeometry, b: SlideGeometry): CompareFrames {
  const fa = mppFrame(a);
  const fb = mppFrame(b);
  if (fa && fb) return { a: fa, b: fb, unit: 'um' };
  return {
    a: { sx: 1 / a.width, sy: 1 / a.height },
    b: { sx: 1 / b.width, sy: 1 / b.height },
    unit: 'fraction',
  };
}

/** A view in shared units. */
export interface SharedView {
  /** Centre of the view. */
  x: number;
  y: number;
  /** Shared units covered by one screen (CSS) pixel: µm per screen pixel when calibrated. */
  perScreenPx: number;
  /** Clockwise degrees. */
  rotation: number;
}

/** One number for a pixel's size: the two axes' geometric mean (equal on nearly every scanner). */
function pixelSize(f: SlideFrame): number {
  return Math.sqrt(f.sx * f.sy);
}

export function toShared(v: ViewState, f: SlideFrame): SharedView {
  return { x: v.x * f.sx, y: v.y * f.sy, perScreenPx: pixelSize(f) / v.imageZoom, rotation: v.rotation };
}

export function fromShared(s: SharedView, f: SlideFrame): ViewState {
  return { x: s.x / f.sx, y: s.y / f.sy, imageZoom: pixelSize(f) / s.perScreenPx, rotation: s.rotation };
}

/**
 * `p_B = R(angle) · p_A + offset` in shared units; B is shown rotated `angle` degrees less than A.
 * R turns clockwise on screen (image y points down, as OpenSeadragon's rotation does).
 */
export interface CompareLink {
  angle: number;
  offset: Point;
}

export const SAME_PLACE: CompareLink = { angle: 0, offset: { x: 0, y: 0 } };

function rotate(p: Point, deg: number): Point {
  if (deg % 360 === 0) return p;
  const r = (deg * Math.PI) / 180;
  const c = Math.cos(r);
  const s = Math.sin(r);
  return { x: c * p.x - s * p.y, y: s * p.x + c * p.y };
}

export function invertLink(l: CompareLink): CompareLink {
  const back = rotate(l.offset, -l.angle);
  return { angle: -l.angle, offset: { x: -back.x, y: -back.y } };
}

/**
 * The link that keeps both views' centres where they are now. With `keepRotation` B keeps its own
 * rotation relative to A; without it B is to take A's rotation.
 */
export function linkBetween(a: SharedView, b: SharedView, keepRotation: boolean): CompareLink {
  const angle = keepRotation ? a.rotation - b.rotation : 0;
  const turned = rotate({ x: a.x, y: a.y }, angle);
  return { angle, offset: { x: b.x - turned.x, y: b.y - turned.y } };
}

/** Where the other slide's view goes for a leader's view, both in shared units. */
export function followShared(leader: SharedView, link: CompareLink): SharedView {
  const p = rotate({ x: leader.x, y: leader.y }, link.angle);
  return {
    x: p.x + link.offset.x,
    y: p.y + link.offset.y,
    perScreenPx: leader.perScreenPx,
    rotation: leader.rotation - link.angle,
  };
}

/**
 * The follower's view (its own image pixels) for the leader's view. `link` takes leader points to
 * follower points: pass `invertLink(link)` when B leads.
 */
export function followView(
  leader: ViewState,
  leaderFrame: SlideFrame,
  followerFrame: SlideFrame,
  link: CompareLink,
): ViewState {
  return fromShared(followShared(toShared(leader, leaderFrame), link), followerFrame);
}
