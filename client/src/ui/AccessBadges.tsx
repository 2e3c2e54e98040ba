import type { SlideDto } from '../../../protocol/index.ts';

/** "Shared" (seen through a share, not as the user's own site's) and "De-identified" marks. */
export function AccessBadges({ slide }: { slide: SlideDto }) {
  if (slide.access !== 'share' && !slide.deidentified) return null;
  return (
    <span className="badges">
      {slide.access === 'share' && (
        <span className="badge shared" title="Shared with you by another site">
          Shared
        </span>
      )}
      {slide.deidentified && (
        <span
          className="badge deid"
          title="De-identified: shown under a study code, without label, macro image or identifying metadata"
        >
          De-identified
        </span>
      )}
    </span>
  );
}
