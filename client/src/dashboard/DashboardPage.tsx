import '../cases/cases.css';
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { SiteDto } from '../../../protocol/index.ts';
import type { DashboardDto, PathologistDto } from '../../../protocol/cases.ts';
import { listSites } from '../api.ts';
import { useMe } from '../auth/session.ts';
import { getDashboard } from '../cases/api.ts';
import { SUBSPECIALTIES, subspecialtyLabel } from '../cases/constants.ts';
import { filterQuery, parseFilter, type DashboardFilter } from '../cases/filters.ts';
import { formatPoints, loadTone, sortPathologists } from '../cases/format.ts';
import { LoadBar } from '../cases/LoadBar.tsx';
import { useLoader } from '../cases/useLoader.ts';
import { canSeeDashboard } from '../ui/nav.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';
import { BalancePanel } from './BalancePanel.tsx';
import { BacklogChart, TurnaroundChart } from './Charts.tsx';

type SiteSummary = DashboardDto['sites'][number];

function Stat({ label, value, tone }: { label: string; value: number; tone?: 'bad' | 'warn' }) {
  return (
    <div className={`stat${tone && value > 0 ? ` stat-${tone}` : ''}`}>
      <div className="stat-value num">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

function SiteCard({ s }: { s: SiteSummary }) {
  const tone = loadTone(s.points, s.capacity);
  return (
    <article className="site-card" data-site={s.siteId}>
      <header className="site-card-head">
        <h3>{s.siteName}</h3>
        <span className="muted small">{s.openCases} open</span>
      </header>
      <div className="stats">
        <Stat label="Open" value={s.openCases} />
        <Stat label="Unassigned" value={s.unassigned} tone="warn" />
        <Stat label="Near breach" value={s.nearBreach} tone="warn" />
        <Stat label="Breached" value={s.breached} tone="bad" />
        <Stat label="2nd opinions waiting" value={s.secondOpinionsWaiting} />
      </div>
      <div className="site-load">
        <div className="site-load-text small">
          <span>Points vs weekly capacity</span>
          <span className={`num load-num tone-${tone}`}>
            {formatPoints(s.points)} / {formatPoints(s.capacity)}
          </span>
        </div>
        <LoadBar load={s.points} capacity={s.capacity} label={`${s.siteName} workload`} />
      </div>
    </article>
  );
}

function PathologistTable({ list }: { list: PathologistDto[] }) {
  const sorted = useMemo(() => sortPathologists(list), [list]);
  if (sorted.length === 0) return <p className="muted">No pathologists match these filters.</p>;
  return (
    <table className="cases pathologists" data-testid="pathologists">
      <thead>
        <tr>
          <th>Pathologist</th>
          <th>Site</th>
          <th>Subspecialties</th>
          <th className="col-load">Load vs capacity</th>
          <th className="num">Open cases</th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((p) => {
          const tone = loadTone(p.load, p.weeklyCapacity);
          return (
            <tr key={p.userId} data-pathologist={p.name} data-tone={tone} data-load={p.load}>
              <td>
                <span className="person">{p.name}</span>
                {p.onLeave && <span className="badge on-leave">On leave</span>}
                {tone === 'over' && <span className="badge over">Over capacity</span>}
              </td>
              <td className="nowrap">{p.siteName}</td>
              <td className="small">
                {p.subspecialties.length ? p.subspecialties.map(subspecialtyLabel).join(', ') : '–'}
              </td>
              <td className="col-load">
                <div className="load-cell">
                  <LoadBar load={p.load} capacity={p.weeklyCapacity} label={`${p.name}'s load`} />
                  <span className={`num load-num tone-${tone}`} data-testid="load">
                    {formatPoints(p.load)} / {formatPoints(p.weeklyCapacity)}
                  </span>
                </div>
              </td>
              <td className="num">{p.openCases}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Filters({
  filter,
  sites,
  onChange,
}: {
  filter: DashboardFilter;
  sites: { id: string; name: string }[];
  onChange: (f: DashboardFilter) => void;
}) {
  return (
    <div className="lib-tools filters">
      <h1 className="page-title">Workload</h1>
      <label className="sort">
        Site{' '}
        <select
          value={filter.site}
          onChange={(e) => onChange({ ...filter, site: e.target.value })}
          aria-label="Site"
        >
          <option value="">All sites</option>
          {sites.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
      </label>
      <label className="sort">
        Subspecialty{' '}
        <select
          value={filter.subspecialty}
          onChange={(e) =>
            onChange({ ...filter, subspecialty: e.target.value as DashboardFilter['subspecialty'] })
          }
          aria-label="Subspecialty"
        >
          <option value="">All subspecialties</option>
          {SUBSPECIALTIES.map((s) => (
            <option key={s} value={s}>
              {subspecialtyLabel(s)}
            </option>
          ))}
        </select>
      </label>
      {(filter.site || filter.subspecialty) && (
        <button type="button" className="btn small" onClick={() => onChange({ site: '', subspecialty: '' })}>
          Clear filters
        </button>
      )}
    </div>
  );
}

export default function DashboardPage() {
  const { user } = useMe();
  const allowed = canSeeDashboard(user.role);
  const [filter, setFilter] = useState<DashboardFilter>(() => parseFilter(window.location.search));
  const query = filterQuery(filter);
  const [state, reload] = useLoader(
    useCallback((signal: AbortSignal) => getDashboard(filter, signal), [filter]),
    allowed ? `dashboard${query}` : 'none',
  );
  const [sites, setSites] = useState<SiteDto[]>([]);

  useEffect(() => {
    document.title = 'Dashboard · Tessera';
    const ac = new AbortController();
    listSites(ac.signal).then(setSites, () => {});
    return () => ac.abort();
  }, []);

  // Back / forward between filter states.
  useEffect(() => {
    const onPop = () => setFilter(parseFilter(window.location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const changeFilter = (f: DashboardFilter) => {
    setFilter(f);
    window.history.pushState(null, '', `/dashboard${filterQuery(f)}`);
  };

  const siteOptions = useMemo(() => {
    const m = new Map(sites.map((s) => [s.id, s.name]));
    for (const s of state.data?.sites ?? []) if (!m.has(s.siteId)) m.set(s.siteId, s.siteName);
    return [...m].map(([id, name]) => ({ id, name }));
  }, [sites, state.data]);

  let body;
  const d = state.data;
  if (!allowed)
    body = (
      <div className="empty">
        <h2>The dashboard is for lab managers</h2>
        <p className="muted">Lab managers and administrators see workload across sites here.</p>
      </div>
    );
  else if (!d && state.status === 'loading') body = <Spinner label="Loading the dashboard…" />;
  else if (state.status === 'down') body = <ServerDown onRetry={reload} />;
  else if (state.status === 'error') body = <Failure message={state.message} onRetry={reload} />;
  else if (d)
    body = (
      <div className={`dash${state.status === 'loading' ? ' refreshing' : ''}`} data-testid="dashboard">
        <section className="site-cards" aria-label="Sites">
          {d.sites.length === 0 && <p className="muted">No sites match these filters.</p>}
          {d.sites.map((s) => (
            <SiteCard key={s.siteId} s={s} />
          ))}
        </section>
        <div className="dash-grid">
          <section className="panel" aria-labelledby="people-title">
            <h2 id="people-title" className="section-title">
              Pathologists
            </h2>
            <PathologistTable list={d.pathologists} />
          </section>
          <BalancePanel key={query} filter={filter} onMoved={reload} />
        </div>
        <div className="chart-grid">
          <section className="panel" aria-labelledby="backlog-title">
            <h2 id="backlog-title" className="section-title">
              Backlog · open cases at week end, last 8 weeks
            </h2>
            <BacklogChart data={d} />
          </section>
          <section className="panel" aria-labelledby="tat-title">
            <h2 id="tat-title" className="section-title">
              Turnaround · days from receipt to report
            </h2>
            <TurnaroundChart data={d} />
          </section>
        </div>
      </div>
    );

  return (
    <div className="library cases-page">
      <PageHeader title="Lab dashboard" />
      <main className="lib-main">
        {allowed && <Filters filter={filter} sites={siteOptions} onChange={changeFilter} />}
        {body}
      </main>
    </div>
  );
}
