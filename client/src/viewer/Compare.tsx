import type { SlideDto } from '../../../protocol/index.ts';
import { formatLabel } from '../library/filter.ts';
import { SyncIcon } from '../ui/icons.tsx';
import { SlidePane } from './SlidePane.tsx';
import type { useCompare } from './useCompare.ts';
import { basePower } from './viewport.ts';

type CompareApi = ReturnType<typeof useCompare>;

export function CompareControls({ compare }: { compare: CompareApi }) {
  if (!compare.compareId) {
    return (
      <div className="tool-group">
        <select
          className="tselect"
          aria-label="Compare side by side with"
          value=""
          onFocus={() => compare.choices === null && compare.loadChoices()}
          onMouseDown={() => compare.choices === null && compare.loadChoices()}
          onChange={(e) => e.target.value && compare.open(e.target.value)}
        >
          <option value="">Side by side…</option>
          {compare.choices === null && <option disabled>Loading…</option>}
          {compare.choices?.length === 0 && <option disabled>No other slides</option>}
          {compare.choices?.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name} ({formatLabel(s.sourceFormat)})
            </option>
          ))}
        </select>
      </div>
    );
  }
  return (
    <div className="tool-group">
      <button
        type="button"
        className={`tbtn${compare.syncOn ? ' on' : ''}`}
        aria-pressed={compare.syncOn}
        onClick={compare.toggleSync}
        title={
          compare.physical
            ? 'Synchronise pan and zoom in physical units (µm)'
            : 'Synchronise pan and zoom as fractions of each image (a slide lacks µm/px)'
        }
      >
        <SyncIcon /> {compare.syncOn ? 'Synced' : 'Sync off'}
      </button>
      <button type="button" className="tbtn" onClick={compare.close} title="Close the side-by-side view">
        Close comparison
      </button>
    </div>
  );
}

export function ComparePane({ compare, slide }: { compare: CompareApi; slide: SlideDto | null }) {
  const c = compare.compare;
  if (!slide) {
    return (
      <div className="pane">
        <div className="pane-state" role={c.status === 'failed' ? 'alert' : 'status'}>
          {c.status === 'failed' ? (
            <>
              <strong>{c.message}</strong>
              <button type="button" className="btn" onClick={compare.close}>
                Close
              </button>
            </>
          ) : (
            <>
              <div className="spinner" aria-hidden="true" />
              <span>Loading the second slide…</span>
            </>
          )}
        </div>
      </div>
    );
  }
  return (
    <SlidePane
      key={slide.id}
      slide={slide}
      power={basePower(slide.objectivePower, slide.mppX)}
      initial={null}
      rotation={0}
      onController={(ctl) => (compare.secondary.current = ctl)}
      onOpen={compare.onSecondaryOpen}
      onTarget={compare.onSecondaryTarget}
      notice={
        compare.uncalibrated.length > 0 ? (
          <>
            Not in µm: {compare.uncalibrated.join(' and ')} {compare.uncalibrated.length > 1 ? 'have' : 'has'}{' '}
            no pixel size; the panes follow as fractions of each image.
          </>
        ) : undefined
      }
      caption={
        <>
          {slide.name}
          <button
            type="button"
            className="icon-btn"
            aria-label="Close the second slide"
            onClick={compare.close}
          >
            ×
          </button>
        </>
      }
    />
  );
}
