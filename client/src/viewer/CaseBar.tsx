import '../cases/case-bar.css';
import { useEffect, useState } from 'react';
import type { CaseBarDto } from '../../../protocol/case-page.ts';
import { getCaseBar } from '../cases/case-api.ts';
import { casePath, caseSlidePath, neighbours } from '../cases/case-nav.ts';
import { statusLabel } from '../cases/constants.ts';
import { Link } from '../ui/router.tsx';

/**
 * The case a slide is read in (`?case=` names it; without it, the case holding the slide, if the user
 * may see one): which slide of how many, the previous and next slide, and the way back to the case.
 * Nothing when the slide is in no case the user may see.
 */
export function CaseBar({ slideId }: { slideId: string }) {
  const [bar, setBar] = useState<CaseBarDto | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    const named = new URLSearchParams(window.location.search).get('case');
    getCaseBar(slideId, named, ac.signal).then(
      (b) => setBar(b),
      () => setBar(null),
    );
    return () => ac.abort();
  }, [slideId]);
  if (!bar) return null;
  const ids = bar.slides.map((s) => s.id);
  const { index, prev, next } = neighbours(ids, slideId);
  const current = bar.slides[index];
  return (
    <nav className="case-bar" aria-label="Case" data-testid="case-bar">
      <Link to={casePath(bar.accession)} className="case-bar-back">
        ← Case <span className="mono">{bar.accession}</span>
      </Link>
      <span className="case-bar-status">{statusLabel(bar.status)}</span>
      {index >= 0 && (
        <span className="case-bar-pos" data-testid="case-bar-position">
          Slide {index + 1} of {ids.length}
          {current && <span className="case-bar-name"> · {current.name}</span>}
        </span>
      )}
      <span className="case-bar-steps">
        {prev ? (
          <Link to={caseSlidePath(prev, bar.accession)} className="case-bar-step" rel="prev">
            ‹ Previous slide
          </Link>
        ) : (
          <span className="case-bar-step off">‹ Previous slide</span>
        )}
        {next ? (
          <Link to={caseSlidePath(next, bar.accession)} className="case-bar-step" rel="next">
            Next slide ›
          </Link>
        ) : (
          <span className="case-bar-step off">Next slide ›</span>
        )}
      </span>
    </nav>
  );
}
