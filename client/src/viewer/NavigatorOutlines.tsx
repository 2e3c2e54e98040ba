import type { ViewDto } from '../../../protocol/review.ts';
import { boxCorners } from '../review/shapes.ts';
import type { Person } from './AnnotationOverlay.tsx';
import { apply, type Affine } from './geometry.ts';

/** Navigator pixels: an outline smaller than this (someone zoomed far in) is drawn as a marker this big. */
const MIN_PX = 6;

interface Props {
  /** Image pixel → navigator element pixel. */
  transform: Affine;
  views?: Map<string, ViewDto>;
  people?: Map<string, Person>;
}

/**
 * Others' view outlines on the navigator (minimap), in their colours: the same image-pixel boxes the
 * main view outlines, projected through the navigator's transform. Never takes the pointer, so the
 * navigator still pans on a click or drag.
 */
export function NavigatorOutlines({ transform, views, people }: Props) {
  return (
    <svg className="navigator-outlines" aria-hidden="true">
      {[...(views ?? [])].map(([userId, v]) => {
        const who = people?.get(userId);
        if (!who) return null;
        let c = boxCorners(v.bounds).map((p) => apply(transform, p));
        const xs = c.map((p) => p.x);
        const ys = c.map((p) => p.y);
        const w = Math.max(...xs) - Math.min(...xs);
        const h = Math.max(...ys) - Math.min(...ys);
        if (w < MIN_PX || h < MIN_PX) {
          const cx = (Math.max(...xs) + Math.min(...xs)) / 2;
          const cy = (Math.max(...ys) + Math.min(...ys)) / 2;
          const hw = Math.max(w, MIN_PX) / 2;
          const hh = Math.max(h, MIN_PX) / 2;
          c = boxCorners({ x: cx - hw, y: cy - hh, width: 2 * hw, height: 2 * hh });
        }
        return (
          <polygon
            key={userId}
            className="navigator-outline"
            data-navigator-outline={userId}
            points={c.map((p) => `${p.x},${p.y}`).join(' ')}
            stroke={who.color}
          />
        );
      })}
    </svg>
  );
}
