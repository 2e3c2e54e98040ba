import '../cases/cases.css';
import '../cases/case-page.css';
import { useEffect, useMemo, useState } from 'react';
import type { SecondOpinionDto, WorklistItem } from '../../../protocol/cases.ts';
import { thumbnailUrl } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { getWorklist, updateCase } from '../cases/api.ts';
import { getCasePage } from '../cases/case-api.ts';
import {
  casePath,
  caseSlidePath,
  filterWorklist,
  parseWorklistFilter,
  startSlide,
  worklistFilterQuery,
  type WorklistFilter,
} from '../cases/case-nav.ts';
import { ReportFlowUi, useReportFlow, type ReportFlow } from '../cases/ReportFlow.tsx';
import { SecondOpinionForm } from '../cases/SecondOpinionForm.tsx';
import {
  CASE_STATUSES,
  PRIORITIES,
  specimenLabel,
  statusLabel,
  subspecialtyLabel,
} from '../cases/constants.ts';
import { breachTone, formatDay, formatDaysToBreach, formatPts } from '../cases/format.ts';
import { PriorityBadge } from '../cases/PriorityBadge.tsx';
import { errorMessage, useLoader } from '../cases/useLoader.ts';
import { canSeeWorklist } from '../ui/nav.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Link, navigate } from '../ui/router.tsx';
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

/** Statuses a worklist case can have (reported cases leave it). */
const OPEN_STATUSES = CASE_STATUSES.filter((s) => s !== 'reported');

function Row({
  item,
  opinion,
  report,
  onOpinion,
}: {
  item: WorklistItem;
  opinion: SecondOpinionDto | undefined;
  report: ReportFlow;
  onOpinion: (o: SecondOpinionDto) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const tone = breachTone(item.daysToBreach);

  // The review starts (status in review) and opens the case's first slide this user has not read.
  const openReview = () => {
    setBusy(true);
    setError(null);
    const started = NOT_STARTED.has(item.status)
      ? updateCase(item.id, { status: 'in_review' })
      : Promise.resolve(null);
    started
      .then(() => getCasePage(item.accession))
      .then(
        (page) => {
          const slide = startSlide(page);
          navigate(slide ? caseSlidePath(slide, item.accession) : casePath(item.accession));
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
          <Link to={casePath(item.accession)} className="accession mono" title="Open the case page">
            {item.accession}
          </Link>
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
                to={caseSlidePath(id, item.accession)}
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
            <button
              type="button"
              className="btn small primary"
              disabled={busy}
              onClick={openReview}
              title="Open the first slide of the case you have not read yet"
            >
              {NOT_STARTED.has(item.status) ? 'Start review' : 'Continue review'}
            </button>
            <button
              type="button"
              className="btn small"
              disabled={busy || report.busy}
              onClick={() => report.ask({ id: item.id, accession: item.accession })}
            >
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
  const report = useReportFlow(reload);
  const [filter, setFilterState] = useState<WorklistFilter>(() =>
    parseWorklistFilter(window.location.search),
  );
  const setFilter = (f: WorklistFilter) => {
    setFilterState(f);
    window.history.replaceState(null, '', `/worklist${worklistFilterQuery(f)}`);
  };

  useEffect(() => {
    document.title = 'Worklist · Tessera';
  }, []);

  const all = useMemo(() => state.data ?? [], [state.data]);
  const items = useMemo(() => filterWorklist(all, filter), [all, filter]);
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
  else if (all.length > 0 && items.length === 0)
    body = (
      <div className="empty">
        <h2>No case matches these filters</h2>
        <button type="button" className="btn" onClick={() => setFilter({ priority: '', status: '' })}>
          Show all cases
        </button>
      </div>
    );
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
              report={report}
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
          {all.length > 0 && (
            <div className="worklist-filters">
              <label>
                <span className="visually-hidden">Priority</span>
                <select
                  aria-label="Priority"
                  value={filter.priority}
                  onChange={(e) =>
                    setFilter({ ...filter, priority: e.target.value as WorklistFilter['priority'] })
                  }
                >
                  <option value="">Any priority</option>
                  {PRIORITIES.map((p) => (
                    <option key={p} value={p}>
                      {p === 'urgent' ? 'Urgent' : 'Routine'}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <span className="visually-hidden">Status</span>
                <select
                  aria-label="Status"
                  value={filter.status}
                  onChange={(e) =>
                    setFilter({ ...filter, status: e.target.value as WorklistFilter['status'] })
                  }
                >
                  <option value="">Any status</option>
                  {OPEN_STATUSES.map((s) => (
                    <option key={s} value={s}>
                      {statusLabel(s)}
                    </option>
                  ))}
                </select>
              </label>
            </div>
          )}
          {items.length > 0 && (
            <span className="muted small count" data-testid="worklist-count">
              {items.length < all.length && `${items.length} of `}
              {all.length} case{all.length === 1 ? '' : 's'}
              {urgent > 0 && ` · ${urgent} urgent`}
              {late > 0 && ` · ${late} due within a day or breached`}
            </span>
          )}
        </div>
        <ReportFlowUi flow={report} />
        {body}
      </main>
    </div>
  );
}
