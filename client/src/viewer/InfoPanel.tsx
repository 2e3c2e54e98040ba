import type { SlideDto } from '../../../protocol/index.ts';
import { associatedUrl } from '../api.ts';
import { formatLabel } from '../library/filter.ts';
import { formatDate, formatDimensions, formatInt, formatMpp } from '../ui/format.ts';
import { formatMagnification, type Power } from './viewport.ts';

function powerText(slide: SlideDto, power: Power): string {
  if (power.source === 'objective') return `${formatMagnification(power.base)} (scanner objective)`;
  if (power.source === 'mpp')
    return `unknown; ≈${formatMagnification(power.base)} derived from ${formatMpp(slide.mppX, slide.mppY)} µm/px (10x ≈ 1 µm/px)`;
  return 'unknown (no objective power, no µm/px): zoom shown in % of full resolution';
}

export function InfoPanel({ slide, power }: { slide: SlideDto; power: Power }) {
  const rows: [string, string][] = [
    ['Name', slide.name],
    ['Scanner format', formatLabel(slide.sourceFormat)],
    ['Size', formatDimensions(slide.width, slide.height)],
    ['Megapixels', formatInt((slide.width * slide.height) / 1e6)],
    ['µm/px', slide.mppX === null ? 'unknown' : `${formatMpp(slide.mppX, slide.mppY)} (x × y)`],
    ['Objective power', powerText(slide, power)],
    ['Pyramid levels', String(slide.levels)],
    ['Tile size', `${slide.tileSize} px`],
    ['Added', formatDate(slide.createdAt)],
    ['Id', slide.id],
  ];
  const images = (['label', 'macro'] as const).filter((n) => slide.associated.includes(n));
  return (
    <section className="panel-section" aria-label="Slide information">
      <dl className="info">
        {rows.map(([k, v]) => (
          <div key={k} className="info-row">
            <dt>{k}</dt>
            <dd className={k === 'Id' ? 'mono small' : undefined}>{v}</dd>
          </div>
        ))}
      </dl>
      {images.length === 0 ? (
        <p className="muted small">No label or macro image.</p>
      ) : (
        images.map((n) => (
          <figure key={n} className="assoc">
            <img src={associatedUrl(slide.id, n)} alt={`${n} image of ${slide.name}`} />
            <figcaption>{n === 'label' ? 'Label' : 'Macro (overview)'}</figcaption>
          </figure>
        ))
      )}
    </section>
  );
}
