import { useEffect, useState } from 'react';
import { Link } from '../ui/router.tsx';
import { getSlideCases } from './case-api.ts';
import { casePath } from './case-nav.ts';
import { SlideCasesBatcher } from './slide-cases.ts';

const batcher = new SlideCasesBatcher((ids) => getSlideCases(ids));

/** Links to the cases holding a slide (those the user may see); nothing for a slide in no case. */
export function SlideCaseLinks({ slideId }: { slideId: string }) {
  const [accessions, setAccessions] = useState<string[]>([]);
  useEffect(() => batcher.want(slideId, setAccessions), [slideId]);
  if (accessions.length === 0) return null;
  return (
    <div className="small" data-testid="slide-cases">
      Case{' '}
      {accessions.map((a, i) => (
        <span key={a}>
          {i > 0 && ', '}
          <Link to={casePath(a)} className="mono">
            {a}
          </Link>
        </span>
      ))}
    </div>
  );
}
