import type { Mpp } from './geometry.ts';
import { KIND_LABEL, measureValue } from './measure.ts';
import type { MeasureApi } from './useMeasure.ts';

const HINTS = {
  pan: 'Choose a tool above (L line, B rectangle, P polygon) to measure.',
  line: 'Drag from one point to another.',
  rect: 'Drag from one corner to the opposite corner.',
  polygon: 'Click each vertex; double-click or press Enter to close. Backspace removes the last vertex.',
} as const;

export function MeasurePanel({
  measure,
  mpp,
  onHover,
}: {
  measure: MeasureApi;
  mpp: Mpp | null;
  onHover: (id: number | null) => void;
}) {
  return (
    <section className="panel-section" aria-label="Measurements">
      <p className="muted small hint">
        {HINTS[measure.tool]}
        {measure.tool !== 'pan' && ' Esc cancels.'}
      </p>
      {mpp === null && (
        <p className="warn small">This slide has no µm/px calibration: measurements are in pixels.</p>
      )}
      {measure.items.length === 0 ? (
        <p className="muted small">No measurements yet.</p>
      ) : (
        <>
          <ol className="measure-list">
            {measure.items.map((m, i) => {
              const v = measureValue(m, mpp);
              return (
                <li
                  key={m.id}
                  data-kind={m.kind}
                  onMouseEnter={() => onHover(m.id)}
                  onMouseLeave={() => onHover(null)}
                >
                  <span className="measure-index">{i + 1}</span>
                  <span className="measure-kind">{KIND_LABEL[m.kind]}</span>
                  <span className="measure-value">
                    <span data-testid="measure-value">{v.text}</span>
                    {v.perimeter && <span className="measure-sub">perimeter {v.perimeter}</span>}
                  </span>
                  <button
                    type="button"
                    className="icon-btn"
                    aria-label={`Remove measurement ${i + 1}`}
                    onClick={() => measure.remove(m.id)}
                  >
                    ×
                  </button>
                </li>
              );
            })}
          </ol>
          <button type="button" className="btn small" onClick={measure.clear}>
            Remove all
          </button>
        </>
      )}
    </section>
  );
}
