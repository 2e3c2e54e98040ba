import '../cases/cases.css';
import { useEffect, useState } from 'react';
import type { SecondOpinionDto, WorklistItem } from '../../../protocol/cases.ts';
import { thumbnailUrl } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { getWorklist, updateCase } from '../cases/api.ts';
import { SecondOpinionForm } from '../cases/SecondOpinionForm.tsx';
import { specimenLabel, statusLabel, subspecialtyLabel } from '../cases/constants.ts';
import { breachTone, formatDay, formatDaysToBreach, formatPts } from '../cases/format.ts';
import { PriorityBadge } from '../cases/PriorityBadge.tsx';
import { errorMessage, useLoader } from '../cases/useLoader.ts';
import { canSeeWorklist } from '../ui/nav.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Link } from '../ui/router.tsx';
import { SlideImage } from '../ui/SlideImage.tsx';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';

/** Statuses from which "Start review" makes sense. */
const NOT_STARTED = new Set(['received', 'scanned', 'assigned']);

function OpinionNote({ item, opinion }: { item: WorklistItem; opinion: SecondOpinionDto }) {
  const slide = item.slideIds[0];
  return (
    <div className="opinion-note" role="status" data-testid="second-opinion">
      Second opinion asked of <strong>{opinion.specialistName}</strong>
      {slide ? (
        <>
          {' · '}
          <Link to={`/view/${encodeURIComponent(slide)}?session=${encodeURIComponent(opinion.sessionId)}`}>
            Open the review session
          </Link>
        </>
      ) : (
        <span className="muted"> · the case has no slides to review yet</span>
      )}
    </div>
  );
}

function Row({
  item,
  opinion,
  onChanged,
  onOpinion,
}: {
  item: WorklistItem;
  opinion: SecondOpinionDto | undefined;
  onChanged: (message: string) => void;
  onOpinion: (o: SecondOpinionDto) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const tone = breachTone(item.daysToBreach);

  const setStatus = (status: 'in_review' | 'reported') => {
    setBusy(true);
    setError(null);
    updateCase(item.id, { status }).then(
      () => {
        setBusy(false);
        onChanged(
          status === 'reported' ? `${item.accession} reported.` : `${item.accession}: review started.`,
        );
      },
      (e: unknown) => {
        setBusy(false);
        setError(errorMessage(e));
      },
    );
  };

  return (
    <>
      <tr data-case={item.accession} className={`tone-${tone}`}>
        <td>
          <div className="accession mono">{item.accession}</div>
          <div className="muted small">{formatPts(item.points)}</div>
        </td>
        <td>
          <PriorityBadge priority={item.priority} />
        </td>
        <td>{subspecialtyLabel(item.subspecialty)}</td>
        <td>{specimenLabel(item.specimenType)}</td>
        <td className="num">{formatDay(item.receivedAt)}</td>
        <td
          className={`num breach breach-${tone}`}
          data-testid="days-to-breach"
          title={`Due ${formatDay(item.dueAt)}`}
        >
          {formatDaysToBreach(item.daysToBreach)}
        </td>
        <td>
          <span className={`status status-${item.status}`}>{statusLabel(item.status)}</span>
        </td>
        <td>
          <div className="case-thumbs">
            {item.slideIds.length === 0 && <span className="muted small">no slides</span>}
            {item.slideIds.map((id, i) => (
              <Link
                key={id}
                to={`/view/${encodeURIComponent(id)}`}
                className="case-thumb"
                aria-label={`Open slide ${i + 1} of ${item.accession}`}
              >
                <SlideImage className="thumb-sm" src={thumbnailUrl(id, 96)} alt="" />
              </Link>
            ))}
          </div>
        </td>
        <td>
          <div className="row-actions">
            {NOT_STARTED.has(item.status) && (
              <button
                type="button"
                className="btn small primary"
                disabled={busy}
                onClick={() => setStatus('in_review')}
              >
                Start review
              </button>
            )}
            <button type="button" className="btn small" disabled={busy} onClick={() => setStatus('reported')}>
              Mark reported
            </button>
            {!opinion && item.status !== 'second_opinion_requested' && (
              <button
                type="button"
                className="btn small"
                disabled={busy || asking}
                onClick={() => setAsking(true)}
              >
                Ask second opinion
              </button>
            )}
          </div>
          {error && (
            <div className="error-text small" role="alert">
              {error}
            </div>
          )}
        </td>
      </tr>
      {(asking || opinion) && (
        <tr className="row-extra">
          <td colSpan={9}>
            {opinion ? (
              <OpinionNote item={item} opinion={opinion} />
            ) : (
              <SecondOpinionForm
                item={item}
                onCancel={() => setAsking(false)}
                onDone={(o) => {
                  setAsking(false);
                  onOpinion(o);
                }}
              />
            )}
          </td>
        </tr>
      )}
    </>
  );
}

export default function WorklistPage() {
  const { user } = useMe();
  const allowed = canSeeWorklist(user.role);
  const [state, reload] = useLoader((signal) => getWorklist(signal), allowed ? 'worklist' : 'none');
  const [opinions, setOpinions] = useState<Record<string, SecondOpinionDto>>({});
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    document.title = 'Worklist · Tessera';
  }, []);

  const items = state.data ?? [];
  let body;
  if (!allowed)
    body = (
      <div className="empty">
        <h2>The worklist is for pathologists</h2>
        <p className="muted">Cases are assigned to pathologists; your role has no worklist.</p>
      </div>
    );
  else if (state.status === 'loading' && !state.data) body = <Spinner label="Loading your worklist…" />;
  else if (state.status === 'down') body = <ServerDown onRetry={reload} />;
  else if (state.status === 'error') body = <Failure message={state.message} onRetry={reload} />;
  else if (items.length === 0)
    body = (
      <div className="empty">
        <div className="empty-art" aria-hidden="true" />
        <h2>No open cases</h2>
        <p className="muted">Cases assigned to you appear here, the most urgent first.</p>
      </div>
    );
  else
    body = (
      <table className="cases worklist" data-testid="worklist">
        <thead>
          <tr>
            <th>Accession</th>
            <th>Priority</th>
            <th>Subspecialty</th>
            <th>Specimen</th>
            <th>Received</th>
            <th>To breach</th>
            <th>Status</th>
            <th>Slides</th>
            <th>
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((it) => (
            <Row
              key={it.id}
              item={it}
              opinion={opinions[it.id]}
              onChanged={(m) => {
                setNotice(m);
                reload();
              }}
              onOpinion={(o) => {
                setOpinions((prev) => ({ ...prev, [it.id]: o }));
                reload();
              }}
            />
          ))}
        </tbody>
      </table>
    );

  const urgent = items.filter((i) => i.priority === 'urgent').length;
  const late = items.filter((i) => breachTone(i.daysToBreach) !== 'ok').length;
  return (
    <div className="library cases-page">
      <PageHeader title="Worklist" />
      <main className="lib-main">
        <div className="lib-tools">
          <h1 className="page-title">My open cases</h1>
          {items.length > 0 && (
            <span className="muted small count" data-testid="worklist-count">
              {items.length} case{items.length === 1 ? '' : 's'}
              {urgent > 0 && ` · ${urgent} urgent`}
              {late > 0 && ` · ${late} due within a day or breached`}
            </span>
          )}
        </div>
        {notice && (
          <div className="notice" role="status">
            {notice}
            <button type="button" className="icon-btn" aria-label="Dismiss" onClick={() => setNotice(null)}>
              ×
            </button>
          </div>
        )}
        {body}
      </main>
    </div>
  );
}
