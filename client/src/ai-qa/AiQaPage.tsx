import '../cases/cases.css';
import './ai-qa.css';
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { AiQaAlgorithmDto, AiQaDto, AlgorithmDto, SiteDto } from '../../../protocol/index.ts';
import { listSites } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { useLoader } from '../cases/useLoader.ts';
import { canSeeAiQa } from '../ui/nav.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Link } from '../ui/router.tsx';
import { formatDate, formatInt } from '../ui/format.ts';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';
import { getQa, listAlgorithms, qaCsvUrl, type QaTable } from './api.ts';
import {
  DISCORDANT_KIND,
  EMPTY_FILTER,
  algorithmLabel,
  formatDay,
  formatDuration,
  formatPercent,
  parseQaFilter,
  qaFilterQuery,
  qaTotals,
  type QaFilter,
} from './format.ts';
import { TrendChart } from './TrendChart.tsx';

const PATH = '/ai-qa';

function CsvLink({ filter, table, label }: { filter: QaFilter; table: QaTable; label: string }) {
  return (
    <a className="btn small" href={qaCsvUrl(filter, table)} download={`ai-qa-${table}.csv`} data-csv={table}>
      Download {label} CSV
    </a>
  );
}

function Stat({ label, value, tone }: { label: string; value: string; tone?: 'bad' | 'warn' }) {
  return (
    <div className={`stat${tone ? ` stat-${tone}` : ''}`}>
      <div className="stat-value num">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

function Headline({ qa }: { qa: AiQaDto }) {
  const t = qaTotals(qa);
  return (
    <div className="stats qa-stats" data-testid="qa-totals">
      <Stat label="Runs" value={formatInt(t.runs)} />
      <Stat label="Failed runs" value={formatInt(t.failed)} tone={t.failed > 0 ? 'warn' : undefined} />
      <Stat label="Slide verdicts" value={formatInt(t.accepted + t.rejected)} />
      <Stat label="Agreement" value={formatPercent(t.agreement)} />
      <Stat
        label="Discordant slides"
        value={formatInt(t.discordant)}
        tone={t.discordant > 0 ? 'bad' : undefined}
      />
    </div>
  );
}

function failureText(a: AiQaAlgorithmDto): string | undefined {
  const parts = Object.entries(a.runs.failures).map(([k, n]) => `${k.replace(/_/g, ' ')} ${n}`);
  return parts.length ? parts.join(', ') : undefined;
}

function SummaryTable({ qa }: { qa: AiQaDto }) {
  return (
    <div className="table-scroll">
      <table className="cases qa-summary" data-testid="qa-summary">
        <thead>
          <tr>
            <th>Algorithm</th>
            <th>Version</th>
            <th className="num">Runs</th>
            <th className="num">Failed</th>
            <th className="num">Verdicts</th>
            <th className="num">Accepted</th>
            <th className="num">Rejected</th>
            <th className="num">Agreement</th>
            <th className="num" title="Verdicts on individual findings">
              Findings agreement
            </th>
            <th className="num" title="From the slide's arrival at the site to the algorithm's result">
              Scan → result, median
            </th>
            <th className="num">90th percentile</th>
            <th className="num">Discordant</th>
          </tr>
        </thead>
        <tbody>
          {qa.algorithms.map((a) => {
            const v = a.slideVerdicts;
            const f = a.findingVerdicts;
            return (
              <tr key={a.algorithm.id} data-algorithm={algorithmLabel(a)}>
                <td>
                  <span className="person">{a.algorithm.name}</span>
                  {!a.algorithm.enabled && <span className="badge qa-disabled">Disabled</span>}
                </td>
                <td className="nowrap">{a.algorithm.version}</td>
                <td className="num" data-k="runs">
                  {formatInt(a.runs.total)}
                </td>
                <td className="num" data-k="failed" title={failureText(a)}>
                  {formatInt(a.runs.failed)}
                </td>
                <td className="num" data-k="verdicts">
                  {formatInt(v.accepted + v.rejected)}
                </td>
                <td className="num" data-k="accepted">
                  {formatInt(v.accepted)}
                </td>
                <td className="num" data-k="rejected">
                  {formatInt(v.rejected)}
                </td>
                <td className="num strong" data-k="agreement">
                  {formatPercent(v.agreement)}
                </td>
                <td
                  className="num"
                  data-k="finding-agreement"
                  title={`${f.accepted} accepted, ${f.rejected} rejected`}
                >
                  {formatPercent(f.agreement)}
                </td>
                <td
                  className="num"
                  data-k="median"
                  title={a.timeToResult ? `${a.timeToResult.count} finished runs` : 'no finished runs'}
                >
                  {formatDuration(a.timeToResult?.medianSeconds)}
                </td>
                <td className="num" data-k="p90">
                  {formatDuration(a.timeToResult?.p90Seconds)}
                </td>
                <td className="num" data-k="discordant">
                  {formatInt(a.discordant.length)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function DiscordantList({ qa }: { qa: AiQaDto }) {
  const rows = qa.algorithms
    .flatMap((a) => a.discordant.map((d) => ({ a, d })))
    .sort((x, y) => (x.d.at < y.d.at ? 1 : -1));
  if (rows.length === 0)
    return (
      <p className="muted">
        No discordant slides: pathologists rejected no slide-level result in this period.
      </p>
    );
  return (
    <div className="table-scroll">
      <table className="cases qa-discordant" data-testid="qa-discordant">
        <thead>
          <tr>
            <th>Slide</th>
            <th>Algorithm</th>
            <th>AI call</th>
            <th>Disagreement</th>
            <th>Pathologist</th>
            <th>Comment</th>
            <th>Verdict given</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ a, d }) => (
            <tr key={d.runId} data-run={d.runId} data-kind={d.kind}>
              <td>
                <Link to={`/view/${encodeURIComponent(d.slideId)}`} className="qa-slide">
                  {d.slideName}
                </Link>
              </td>
              <td className="nowrap">{algorithmLabel(a)}</td>
              <td className="nowrap">
                {d.aiLabel || '–'}
                {d.aiScore !== null && <span className="muted small"> · score {d.aiScore.toFixed(2)}</span>}
              </td>
              <td>
                <span className={`badge ${d.kind === 'ai_positive_rejected' ? 'qa-fp' : 'qa-fn'}`}>
                  {DISCORDANT_KIND[d.kind]}
                </span>
              </td>
              <td className="nowrap">{d.userName}</td>
              <td className="small qa-comment">{d.comment ?? <span className="muted">–</span>}</td>
              <td className="nowrap small">{formatDate(d.at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Filters({
  filter,
  sites,
  algorithms,
  siteLocked,
  onChange,
}: {
  filter: QaFilter;
  sites: { id: string; name: string }[];
  algorithms: AlgorithmDto[];
  /** A lab manager's figures are their own site's: the choice is shown, not offered. */
  siteLocked: string | null;
  onChange: (f: QaFilter) => void;
}) {
  const set = (patch: Partial<QaFilter>) => onChange({ ...filter, ...patch });
  const any = filter.site || filter.from || filter.to || filter.algorithm;
  return (
    <div className="lib-tools filters qa-filters">
      <h1 className="page-title">AI quality assurance</h1>
      <label className="sort">
        Site{' '}
        <select
          value={siteLocked ?? filter.site}
          disabled={siteLocked !== null}
          onChange={(e) => set({ site: e.target.value })}
          aria-label="Site"
        >
          {siteLocked === null && <option value="">All sites</option>}
          {sites.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      </label>
      <label className="sort">
        From{' '}
        <input
          type="date"
          value={filter.from}
          max={filter.to || undefined}
          onChange={(e) => set({ from: e.target.value })}
          aria-label="From"
        />
      </label>
      <label className="sort">
        To{' '}
        <input
          type="date"
          value={filter.to}
          min={filter.from || undefined}
          onChange={(e) => set({ to: e.target.value })}
          aria-label="To"
        />
      </label>
      <label className="sort">
        Algorithm{' '}
        <select
          value={filter.algorithm}
          onChange={(e) => set({ algorithm: e.target.value })}
          aria-label="Algorithm"
        >
          <option value="">All algorithms</option>
          {algorithms.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name} {a.version}
              {a.enabled ? '' : ' (disabled)'}
            </option>
          ))}
        </select>
      </label>
      {any && (
        <button type="button" className="btn small" onClick={() => onChange(EMPTY_FILTER)}>
          Clear filters
        </button>
      )}
    </div>
  );
}

export default function AiQaPage() {
  const { user } = useMe();
  const allowed = canSeeAiQa(user.role);
  const [filter, setFilter] = useState<QaFilter>(() => parseQaFilter(window.location.search));
  const query = qaFilterQuery(filter);
  const [state, reload] = useLoader(
    useCallback((signal: AbortSignal) => getQa(filter, signal), [filter]),
    allowed ? `ai-qa${query}` : 'none',
  );
  const [sites, setSites] = useState<SiteDto[]>([]);
  const [algorithms, setAlgorithms] = useState<AlgorithmDto[]>([]);

  useEffect(() => {
    document.title = 'AI quality · Tessera';
    if (!allowed) return;
    const ac = new AbortController();
    listSites(ac.signal).then(setSites, () => {});
    listAlgorithms(ac.signal).then(setAlgorithms, () => {});
    return () => ac.abort();
  }, [allowed]);

  useEffect(() => {
    const onPop = () => setFilter(parseQaFilter(window.location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const changeFilter = (f: QaFilter) => {
    setFilter(f);
    window.history.pushState(null, '', `${PATH}${qaFilterQuery(f)}`);
  };

  const siteLocked = user.role === 'lab_manager' ? user.siteId : null;
  const siteOptions = useMemo(
    () =>
      (siteLocked ? sites.filter((s) => s.id === siteLocked) : sites).map((s) => ({
        id: s.id,
        name: s.name,
      })),
    [sites, siteLocked],
  );
  const siteName = (id: string | null): string =>
    id === null ? 'all sites' : (sites.find((s) => s.id === id)?.name ?? id);

  let body;
  const d = state.data;
  if (!allowed)
    body = (
      <div className="empty">
        <h2>AI quality assurance is for lab managers</h2>
        <p className="muted">
          Lab managers and administrators follow how algorithms agree with pathologists here.
        </p>
      </div>
    );
  else if (!d && state.status === 'loading') body = <Spinner label="Loading AI quality figures…" />;
  else if (state.status === 'down') body = <ServerDown onRetry={reload} />;
  else if (state.status === 'error') body = <Failure message={state.message} onRetry={reload} />;
  else if (d)
    body = (
      <div className={`dash qa${state.status === 'loading' ? ' refreshing' : ''}`} data-testid="ai-qa">
        <p className="muted qa-span" data-testid="qa-span">
          Runs queued {formatDay(d.from, true)} – {formatDay(d.to, true)} (UTC) · {siteName(d.site)}
        </p>
        {d.algorithms.length === 0 ? (
          <div className="empty" data-testid="qa-empty">
            <h2>No AI runs in this period</h2>
            <p className="muted">
              No algorithm ran on {d.site === null ? 'any site’s' : `${siteName(d.site)}’s`} slides between
              these dates. Widen the dates or choose another algorithm.
            </p>
          </div>
        ) : (
          <>
            <Headline qa={d} />
            <section className="panel qa-panel" aria-labelledby="qa-summary-title">
              <div className="panel-head">
                <h2 id="qa-summary-title" className="section-title">
                  Per algorithm and version
                </h2>
                <CsvLink filter={filter} table="summary" label="summary" />
              </div>
              <SummaryTable qa={d} />
              <p className="muted small qa-note">
                Agreement: slide-level results pathologists accepted, of those they judged. Scan → result:
                from the slide’s arrival at the site to the algorithm’s result, finished runs only.
              </p>
            </section>
            <section className="panel qa-panel" aria-labelledby="qa-trend-title">
              <div className="panel-head">
                <h2 id="qa-trend-title" className="section-title">
                  Agreement per week
                </h2>
                <CsvLink filter={filter} table="weekly" label="weekly" />
              </div>
              <TrendChart qa={d} />
            </section>
            <section className="panel qa-panel" aria-labelledby="qa-discordant-title">
              <div className="panel-head">
                <h2 id="qa-discordant-title" className="section-title">
                  Discordant slides
                </h2>
                <CsvLink filter={filter} table="discordant" label="discordant" />
              </div>
              <DiscordantList qa={d} />
            </section>
          </>
        )}
      </div>
    );

  return (
    <div className="library cases-page">
      <PageHeader title="AI quality" />
      <main className="lib-main">
        {allowed && (
          <Filters
            filter={filter}
            sites={siteOptions}
            algorithms={algorithms}
            siteLocked={siteLocked}
            onChange={changeFilter}
          />
        )}
        {body}
      </main>
    </div>
  );
}
