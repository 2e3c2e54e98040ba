import { formatPoints, loadBar, loadTone } from './format.ts';

/**
 * Load against capacity as an SVG bar (geometry in attributes, colours in CSS: nothing for a strict
 * style-src to refuse). Past capacity the bar is scaled to the load and a mark shows the capacity.
 */
export function LoadBar({ load, capacity, label }: { load: number; capacity: number; label: string }) {
  const { fill, mark } = loadBar(load, capacity);
  const tone = loadTone(load, capacity);
  return (
    <svg
      className={`load-bar tone-${tone}`}
      viewBox="0 0 100 8"
      preserveAspectRatio="none"
      role="img"
      aria-label={`${label}: ${formatPoints(load)} of ${formatPoints(capacity)} points`}
      data-tone={tone}
    >
      <rect className="load-track" x="0" y="0" width="100" height="8" />
      <rect className="load-fill" x="0" y="0" width={fill} height="8" />
      {mark < 100 && (
        <line className="load-mark" x1={mark} x2={mark} y1="0" y2="8" vectorEffect="non-scaling-stroke" />
      )}
    </svg>
  );
}
