import '../cases/cases.css';
import './admin.css';
import { useCallback, useEffect, useState } from 'react';
import { useMe } from '../auth/session.ts';
import { useLoader } from '../cases/useLoader.ts';
import { canSeeAdmin } from '../ui/nav.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Failure, ServerDown, Spinner } from '../ui/states.tsx';
import { AlgorithmsTab } from './AlgorithmsTab.tsx';
import { listAdminSites } from './api.ts';
import { ImportTab } from './ImportTab.tsx';
import { SitesTab } from './SitesTab.tsx';
import { UsersTab } from './UsersTab.tsx';
import { WorkloadTab } from './WorkloadTab.tsx';

const TABS = [
  { id: 'users', label: 'Users' },
  { id: 'sites', label: 'Sites' },
  { id: 'workload', label: 'Workload points' },
  { id: 'import', label: 'Import cases' },
  { id: 'algorithms', label: 'Algorithms' },
] as const;
type Tab = (typeof TABS)[number]['id'];

const tabOf = (search: string): Tab => {
  const t = new URLSearchParams(search).get('tab');
  return TABS.find((x) => x.id === t)?.id ?? 'users';
};

/** /admin: people, sites, workload points, case import and AI algorithms, for administrators and lab managers. */
export default function AdminPage() {
  const { user } = useMe();
  const allowed = canSeeAdmin(user.role);
  const [tab, setTab] = useState<Tab>(() => tabOf(window.location.search));
  const [sites, reloadSites] = useLoader(
    useCallback((s: AbortSignal) => listAdminSites(s), []),
    allowed ? 'sites' : 'none',
  );

  useEffect(() => {
    document.title = 'Administration · Tessera';
    const onPop = () => setTab(tabOf(window.location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const open = (t: Tab) => {
    setTab(t);
    window.history.pushState(null, '', t === 'users' ? '/admin' : `/admin?tab=${t}`);
  };

  let body;
  if (!allowed)
    body = (
      <div className="empty">
        <h2>Administration is for administrators and lab managers</h2>
        <p className="muted">Ask an administrator to change your account.</p>
      </div>
    );
  else if (sites.status === 'down') body = <ServerDown onRetry={reloadSites} />;
  else if (sites.status === 'error') body = <Failure message={sites.message} onRetry={reloadSites} />;
  else if (!sites.data) body = <Spinner label="Loading…" />;
  else
    body = (
      <div role="tabpanel" id={`admin-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'users' && <UsersTab sites={sites.data} />}
        {tab === 'sites' && <SitesTab sites={sites.data} onChanged={reloadSites} />}
        {tab === 'workload' && <WorkloadTab />}
        {tab === 'import' && <ImportTab />}
        {tab === 'algorithms' && <AlgorithmsTab />}
      </div>
    );

  return (
    <div className="library cases-page admin-page">
      <PageHeader title="Administration" />
      <main className="lib-main">
        {allowed && (
          <div className="lib-tools admin-head">
            <h1 className="page-title">Administration</h1>
            {user.role !== 'admin' && <span className="muted small">People of {user.siteName}</span>}
            <div className="tabs" role="tablist" aria-label="Administration">
              {TABS.map((t) => (
                <button
                  key={t.id}
                  id={`tab-${t.id}`}
                  type="button"
                  role="tab"
                  aria-selected={tab === t.id}
                  aria-controls={`admin-${t.id}`}
                  className="tab"
                  onClick={() => open(t.id)}
                >
                  {t.label}
                </button>
              ))}
            </div>
          </div>
        )}
        {body}
      </main>
    </div>
  );
}
