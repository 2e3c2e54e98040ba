import type { AiQaDto } from '../../../protocol/index.ts';
import { formatDay, formatPercent, linePath, linearScale, tickIndexes, trendSeries } from './format.ts';

/** Series colours, as the dashboard's. */
export const PALETTE = ['#1f5fa8', '#c2557f', '#2e8b6e', '#b7791f', '#7b5aa6', '#4a6fa5', '#a44a3f'];

const W = 1000;
const H = 260;
const M = { top: 12, right: 20, bottom: 28, left: 48 };
const Y_TICKS = [0, 0.25, 0.5, 0.75, 1];

/** Agreement (accepted / judged slide-level results) per week, one line per algorithm version. */
export function TrendChart({ qa }: { qa: AiQaDto }) {
  const { weeks, series } = trendSeries(qa);
  const judged = series.filter((s) => s.points.length > 0);
  if (weeks.length === 0 || judged.length === 0)
    return <p className="muted small">No verdicts in this period: no agreement to plot yet.</p>;
  const x = linearScale(0, Math.max(1, weeks.length - 1), M.left, W - M.right);
  // A single week sits in the middle rather than on the left edge.
  const px = weeks.length === 1 ? () => (M.left + W - M.right) / 2 : x;
  const y = linearScale(0, 1, H - M.bottom, M.top);
  const ticks = tickIndexes(weeks.length, 8);
  return (
    <figure className="qa-trend" data-testid="qa-trend">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label="Agreement per week, by algorithm version"
        preserveAspectRatio="xMidYMid meet"
      >
        {Y_TICKS.map((t) => (
          <g key={t}>
            <line x1={M.left} x2={W - M.right} y1={y(t)} y2={y(t)} className="qa-grid" />
            <text x={M.left - 8} y={y(t)} dy="0.32em" textAnchor="end" className="qa-axis">
              {formatPercent(t)}
            </text>
          </g>
        ))}
        {ticks.map((i) => (
          <text key={i} x={px(i)} y={H - 8} textAnchor="middle" className="qa-axis">
            {formatDay(weeks[i]!)}
          </text>
        ))}
        {judged.map((s) => {
          const color = PALETTE[series.indexOf(s) % PALETTE.length];
          const pts = s.points.map((p) => ({ ...p, x: px(p.i), y: y(p.agreement) }));
          return (
            <g key={s.key} data-series={s.label}>
              {pts.length > 1 && <path d={linePath(pts)} fill="none" stroke={color} strokeWidth={2} />}
              {pts.map((p) => (
                <circle
                  key={p.week}
                  cx={p.x}
                  cy={p.y}
                  r={3.5}
                  fill={color}
                  data-week={p.week}
                  data-agreement={p.agreement}
                >
                  <title>
                    {`${s.label}, week of ${formatDay(p.week, true)}: ${formatPercent(p.agreement)} of ${p.judged} verdict${p.judged === 1 ? '' : 's'}`}
                  </title>
                </circle>
              ))}
            </g>
          );
        })}
      </svg>
      <figcaption className="qa-legend small">
        {series.map((s, k) => (
          <span key={s.key} className="qa-legend-item">
            <span
              className="qa-swatch"
              style={{ background: PALETTE[k % PALETTE.length] }}
              aria-hidden="true"
            />
            {s.label}
            {s.points.length === 0 && <span className="muted"> (no verdicts)</span>}
          </span>
        ))}
        <span className="muted">Week starting Monday (UTC); weeks without verdicts are skipped.</span>
      </figcaption>
    </figure>
  );
}
