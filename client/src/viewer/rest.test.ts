import { describe, expect, it } from 'vitest';
import { RestTracker } from './rest.ts';

/** OpenSeadragon's events for one animated move: request, start, frames (at target on the last), finish. */
function move(r: RestTracker, frames: boolean[]): { restAt: number | 'finish' | null; moving: boolean[] } {
  const moving: boolean[] = [];
  let restAt: number | 'finish' | null = null;
  r.request();
  r.started();
  frames.forEach((atTarget, i) => {
    moving.push(r.moving);
    if (r.frame(atTarget)) restAt = restAt ?? i;
  });
  if (r.finished()) restAt = restAt ?? 'finish';
  return { restAt, moving };
}

describe('RestTracker', () => {
  it('is at rest on the frame that drew the destination, not on animation-finish a frame later', () => {
    const r = new RestTracker();
    const { restAt, moving } = move(r, [false, false, false, true]);
    expect(restAt).toBe(3);
    expect(moving).toEqual([true, true, true, true]);
    expect(r.moving).toBe(false);
  });

  it('says so once per move', () => {
    const r = new RestTracker();
    r.request();
    r.started();
    expect(r.frame(true)).toBe(true);
    expect(r.frame(true)).toBe(false);
    expect(r.finished()).toBe(false);
  });

  it('a request arriving after the early rest but before animation-finish moves again and rests again', () => {
    const r = new RestTracker();
    r.request();
    r.started();
    expect(r.frame(true)).toBe(true);
    // The next key press: OpenSeadragon keeps animating, so no animation-start of its own.
    r.request();
    expect(r.moving).toBe(true);
    expect(r.frame(false)).toBe(false);
    expect(r.frame(true)).toBe(true);
    expect(r.finished()).toBe(false);
    expect(r.moving).toBe(false);
  });

  it('falls back to animation-finish when no frame reached the destination', () => {
    const r = new RestTracker();
    expect(move(r, [false, false]).restAt).toBe('finish');
  });

  it('is not moving before OpenSeadragon starts animating, nor at rest before any request', () => {
    const r = new RestTracker();
    expect(r.moving).toBe(false);
    expect(r.frame(true)).toBe(false);
    expect(r.finished()).toBe(false);
  });
});
