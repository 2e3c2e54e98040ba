import './cases.css';
import './case-page.css';
import { useEffect, useState, type ReactNode } from 'react';
import type { CaseOpinionDto, CasePageDto, CaseSlideDto } from '../../../protocol/case-page.ts';
import { thumbnailUrl } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { formatLabel } from '../library/filter.ts';
import { formatDate } from '../ui/format.ts';
import { canSeeDashboard, canSeeWorklist } from '../ui/nav.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Link, navigate } from '../ui/router.tsx';
import { SlideImage } from '../ui/SlideImage.tsx';
import { Failure, NotFound, ServerDown, Spinner } from '../ui/states.tsx';
import { getCasePage } from './case-api.ts';
import { caseSlidePath, historyText, startSlide } from './case-nav.ts';
import { specimenLabel, statusLabel, subspecialtyLabel } from './constants.ts';
import { breachTone, formatDay, formatDaysToBreach, formatPts } from './format.ts';
import { PriorityBadge } from './PriorityBadge.tsx';
import { Reassign } from './Reassign.tsx';
import { ReportFlowUi, useReportFlow } from './ReportFlow.tsx';
import { errorMessage, useLoader } from './useLoader.ts';
import { updateCase } from './api.ts';

function SlideCard({ s, accession }: { s: CaseSlideDto; accession: string }) {
  if (!s.visible)
    return (
      <li className="case-slide hidden-slide" data-slide-id={s.id}>
        <div className="case-slide-img muted small">not shared with you</div>
        <div className="case-slide-name muted">Slide {s.id.slice(0, 8)}</div>
      </li>
    );
  return (
    <li className={`case-slide${s.readAt ? ' read' : ''}`} data-slide-id={s.id} data-testid="case-slide">
      <Link to={caseSlidePath(s.id, accession)} className="case-slide-link" aria-label={`Open ${s.name}`}>
        <SlideImage className="case-slide-img" src={thumbnailUrl(s.id, 192)} alt="" />
        <div className="case-slide-name">{s.name}</div>
      </Link>
      <div className="case-slide-meta muted small">
        {s.sourceFormat && <span>{formatLabel(s.sourceFormat)}</span>}
        {s.objectivePower !== null && <span>{s.objectivePower}x</span>}
        <span data-testid="annotation-count">
          {s.annotations} annotation{s.annotations === 1 ? '' : 's'}
        </span>
      </div>
      <div className="small">
        {s.readAt ? (
          <span className="read-mark" title={`First opened ${formatDate(s.readAt)}`}>
            ✓ Read
          </span>
        ) : (
          <span className="unread-mark">Not read yet</span>
        )}
      </div>
    </li>
  );
}

/** Statuses before a review starts. */
const NOT_STARTED = new Set(['received', 'scanned', 'assigned']);

const OPINION_STATUS: Record<CaseOpinionDto['status'], string> = {
  waiting: 'Waiting',
  answered: 'Answered',
  declined: 'Declined',
};

function Opinions({ page }: { page: CasePageDto }) {
  if (page.opinions.length === 0) return <p className="muted">No second opinion asked.</p>;
  const first = page.slides.find((s) => s.visible)?.id;
  return (
    <ul className="case-opinions">
      {page.opinions.map((o) => (
        <li key={o.id} data-testid="case-opinion">
          <div>
            <strong>{o.specialistName}</strong>{' '}
            <span className={`status opinion-${o.status}`}>{OPINION_STATUS[o.status]}</span>{' '}
            <span className="muted small">
              asked {formatDate(o.createdAt)}
              {o.requestedByName ? ` by ${o.requestedByName}` : ''}
            </span>
            {first && (
              <>
                {' · '}
                <Link to={`/view/${encodeURIComponent(first)}?session=${encodeURIComponent(o.sessionId)}`}>
                  Open the review session
                </Link>
              </>
            )}
          </div>
          <blockquote className="opinion-question">{o.question}</blockquote>
          {o.answers.map((a, i) => (
            <div key={i} className="opinion-answer">
              <strong>{a.diagnosis}</strong> <span className="muted small">({a.confidence} confidence)</span>
              {a.text && <div>{a.text}</div>}
              <div className="muted small">
                {a.by}, {formatDate(a.at)}
              </div>
            </div>
          ))}
        </li>
      ))}
    </ul>
  );
}

function Details({ page }: { page: CasePageDto }) {
  const c = page.case;
  const tone = breachTone(c.daysToBreach);
  const rows: [string, ReactNode][] = [
    ['Site', page.siteName],
    ['Specimen', specimenLabel(c.specimenType)],
    ['Subspecialty', subspecialtyLabel(c.subspecialty)],
    ['Received', formatDay(c.receivedAt)],
    [
      'Due',
      <>
        {formatDay(c.dueAt)}{' '}
        {c.status !== 'reported' && (
          <span className={`breach breach-${tone}`} data-testid="days-to-breach">
            ({formatDaysToBreach(c.daysToBreach)})
          </span>
        )}
      </>,
    ],
    ['Assigned to', c.assignedName ?? <span className="muted">nobody</span>],
    ['Workload', formatPts(c.points)],
  ];
  if (c.reportedAt) rows.push(['Reported', formatDate(c.reportedAt)]);
  return (
    <dl className="case-details">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export default function CasePage({ accession }: { accession: string }) {
  const { user } = useMe();
  const [state, reload] = useLoader((signal) => getCasePage(accession, signal), accession);
  const flow = useReportFlow(reload);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);
  // Back on the page within the window (a reload, the back button): the undo is still offered.
  const resumeUntil = state.data?.undoUntil ?? null;
  const { resume } = flow;
  const resumeCase = state.data?.case;
  useEffect(() => {
    if (resumeUntil && resumeCase)
      resume({ id: resumeCase.id, accession: resumeCase.accession, until: resumeUntil });
  }, [resumeUntil, resumeCase, resume]);

  useEffect(() => {
    document.title = `${accession} · Tessera`;
  }, [accession]);

  const back = canSeeWorklist(user.role)
    ? { to: '/worklist', label: '← Worklist' }
    : canSeeDashboard(user.role)
      ? { to: '/dashboard', label: '← Dashboard' }
      : { to: '/', label: '← Library' };

  let body;
  if (state.status === 'loading' && !state.data) body = <Spinner label="Loading the case…" />;
  else if (state.status === 'down' && !state.data) body = <ServerDown onRetry={reload} />;
  else if (state.status === 'error' && !state.data)
    body = /no such case/i.test(state.message) ? (
      <NotFound what="No such case" detail={<>There is no case {accession} that you may see.</>} />
    ) : (
      <Failure message={state.message} onRetry={reload} />
    );
  else if (state.data) {
    const page = state.data;
    const c = page.case;
    const start = startSlide(page);
    const allRead = page.slides.length > 0 && page.firstUnread === null;
    const names = {
      people: page.people,
      slides: Object.fromEntries(page.slides.flatMap((s) => (s.name ? [[s.id, s.name]] : []))),
    };
    body = (
      <>
        <div className="case-head">
          <h1 className="page-title">
            Case <span className="mono">{c.accession}</span>
          </h1>
          <PriorityBadge priority={c.priority} />
          <span className={`status status-${c.status}`} data-testid="case-status">
            {statusLabel(c.status)}
          </span>
          <div className="case-actions">
            {start && (
              <button
                type="button"
                className="btn primary"
                disabled={starting}
                onClick={() => {
                  // The assignee's first look starts the review, as "Start review" on the worklist does.
                  const open = () => navigate(caseSlidePath(start, c.accession));
                  if (!page.canReport || !NOT_STARTED.has(c.status)) return open();
                  setStarting(true);
                  updateCase(c.id, { status: 'in_review' }).then(open, (e: unknown) => {
                    setStarting(false);
                    setStartError(errorMessage(e));
                  });
                }}
              >
                {allRead
                  ? 'Open the first slide'
                  : page.slides.some((s) => s.readAt)
                    ? 'Continue reading'
                    : 'Start reading'}
              </button>
            )}
            {page.canReport && (
              <button
                type="button"
                className="btn"
                onClick={() => flow.ask({ id: c.id, accession: c.accession })}
              >
                Mark reported
              </button>
            )}
          </div>
        </div>
        {startError && (
          <div className="flow-notice error" role="alert">
            {startError}
          </div>
        )}
        <ReportFlowUi flow={flow} />
        <Details page={page} />
        {canSeeDashboard(user.role) && page.case.status !== 'reported' && (
          <Reassign c={page.case} onDone={reload} />
        )}

        <section className="case-section">
          <h2>
            Slides <span className="muted small">({page.slides.length})</span>
          </h2>
          {page.slides.length === 0 ? (
            <p className="muted">No slides yet.</p>
          ) : (
            <ul className="case-slides">
              {page.slides.map((s) => (
                <SlideCard key={s.id} s={s} accession={c.accession} />
              ))}
            </ul>
          )}
        </section>

        <section className="case-section">
          <h2>Second opinions</h2>
          <Opinions page={page} />
        </section>

        <section className="case-section">
          <h2>History</h2>
          {page.history.length === 0 ? (
            <p className="muted">Nothing recorded.</p>
          ) : (
            <table className="cases case-history" data-testid="case-history">
              <thead>
                <tr>
                  <th className="col-when">When</th>
                  <th className="col-who">Who</th>
                  <th>What</th>
                </tr>
              </thead>
              <tbody>
                {page.history.map((h) => (
                  <tr key={h.id} data-action={h.action}>
                    <td className="nowrap">{formatDate(h.at)}</td>
                    <td>{h.userName ?? <span className="muted">system</span>}</td>
                    <td>{historyText(h, names)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </>
    );
  }

  return (
    <div className="library cases-page case-page">
      <PageHeader title="Case" />
      <main className="lib-main">
        <Link to={back.to} className="back-link">
          {back.label}
        </Link>
        {body}
      </main>
    </div>
  );
}
