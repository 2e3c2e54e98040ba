import '../library/library.css';
import type { ReactNode } from 'react';
import { useMe } from '../auth/session.ts';
import { UserMenu } from '../auth/UserMenu.tsx';
import { InboxBadge } from '../inbox/InboxBadge.tsx';
import { isCurrent, navItems } from './nav.ts';
import { Link, usePathname } from './router.tsx';

/** Links to the pages the signed-in user's role can use; nothing when there is only the library. */
export function AppNav() {
  const { user } = useMe();
  const path = usePathname();
  const items = navItems(user.role);
  if (items.length < 2) return null;
  return (
    <nav className="app-nav" aria-label="Pages">
      {items.map((i) => {
        const current = isCurrent(i, path);
        return (
          <Link key={i.to} to={i.to} className="app-nav-link" aria-current={current ? 'page' : undefined}>
            {i.label}
          </Link>
        );
      })}
    </nav>
  );
}

/** The header of the light pages (library, worklist, dashboard): brand, page name, navigation, user. */
export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="lib-header">
      <div className="header-start">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          <span className="brand-name">Tessera</span>
          <span className="brand-sub">{title}</span>
        </div>
        <AppNav />
      </div>
      <div className="header-end">
        {children}
        <InboxBadge />
        <UserMenu />
      </div>
    </header>
  );
}
