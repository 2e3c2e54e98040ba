import { useEffect } from 'react';
import type { SlideDto } from '../../../protocol/index.ts';
import { associatedUrl, thumbnailUrl } from '../api.ts';
import { formatDate, formatDimensions, formatMpp } from '../ui/format.ts';
import { SlideCaseLinks } from '../cases/SlideCaseLinks.tsx';
import { AccessBadges } from '../ui/AccessBadges.tsx';
import { SlideImage } from '../ui/SlideImage.tsx';
import { Link } from '../ui/router.tsx';
import { formatLabel } from './filter.ts';
import { SlideActions } from './SlideActions.tsx';
import { useConversion } from '../viewer/useConversion.ts';

/** "converting, N %" while the slide is served from its source; followed live until it is stored. */
/** A converting slide's state; once its stored copy is published, `onStored` (its row is read again). */
function ConversionBadge({ slide, onStored }: { slide: SlideDto; onStored: () => void }) {
  const c = useConversion(slide);
  const stored = c.stored;
  useEffect(() => {
    if (stored) onStored();
  }, [stored, onStored]);
  if (!c.state) return null;
  const text =
    c.state === 'converting'
      ? `converting, ${c.percent} %`
      : c.state === 'source'
        ? 'conversion failed: shown from the scanner file'
        : 'conversion failed';
  return (
    <span
      className={`badge conversion ${c.state}`}
      data-testid="conversion-badge"
      data-state={c.state}
      title={c.reason ?? undefined}
    >
      {text}
    </span>
  );
}

export type SortKey = 'name' | 'date';
export type SortDir = 'asc' | 'desc';

interface Props {
  slides: SlideDto[];
  sortKey: SortKey;
  sortDir: SortDir;
  onSort: (key: SortKey) => void;
  highlight: ReadonlySet<string>;
  /** A slide was renamed, deleted or linked: the list is read again. */
  onChanged: () => void;
}

function SortHeader({ label, k, props }: { label: string; k: SortKey; props: Props }) {
  const active = props.sortKey === k;
  return (
    <th aria-sort={active ? (props.sortDir === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="th-sort" onClick={() => props.onSort(k)}>
        {label}
        <span className="sort-mark" aria-hidden="true">
          {active ? (props.sortDir === 'asc' ? '▲' : '▼') : ''}
        </span>
      </button>
    </th>
  );
}

export function SlideTable(props: Props) {
  return (
    <table className="slides">
      <thead>
        <tr>
          <th className="col-img">Thumbnail</th>
          <th className="col-img">Label</th>
          <SortHeader label="Name" k="name" props={props} />
          <th>Scanner format</th>
          <th>Size</th>
          <th>µm/px</th>
          <SortHeader label="Added" k="date" props={props} />
          <th className="col-actions">
            <span className="muted small">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {props.slides.map((s) => (
          <tr key={s.id} className={props.highlight.has(s.id) ? 'fresh' : undefined} data-slide-id={s.id}>
            <td className="col-img">
              <Link to={`/view/${s.id}`} aria-label={`Open ${s.name}`} tabIndex={-1}>
                <SlideImage className="thumb" src={thumbnailUrl(s.id, 192)} alt="" />
              </Link>
            </td>
            <td className="col-img">
              {s.deidentified ? (
                <span className="muted small">withheld</span>
              ) : s.associated.includes('label') ? (
                <SlideImage
                  className="label-img"
                  src={associatedUrl(s.id, 'label')}
                  alt={`Label of ${s.name}`}
                />
              ) : (
                <span className="muted small">none</span>
              )}
            </td>
            <td>
              <Link to={`/view/${s.id}`} className="slide-name">
                {s.name}
              </Link>
              <AccessBadges slide={s} />
              {s.conversion && <ConversionBadge slide={s} onStored={props.onChanged} />}
              <div className="muted small mono">{s.id.slice(0, 12)}</div>
              <SlideCaseLinks slideId={s.id} />
            </td>
            <td>{formatLabel(s.sourceFormat)}</td>
            <td className="num">{formatDimensions(s.width, s.height)}</td>
            <td className="num">
              {formatMpp(s.mppX, s.mppY)}
              {s.objectivePower !== null && <div className="muted small">{s.objectivePower}x objective</div>}
            </td>
            <td className="num">{formatDate(s.createdAt)}</td>
            <td className="col-actions">
              <SlideActions slide={s} onChanged={props.onChanged} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
