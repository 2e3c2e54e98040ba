import { Link, usePathname } from '../ui/router.tsx';
import { useInbox } from './useInbox.ts';

/** "Inbox" in the header, with the number of invitations not yet answered. */
export function InboxBadge() {
  const inbox = useInbox();
  const path = usePathname();
  const pending = inbox?.pending ?? 0;
  return (
    <Link
      to="/inbox"
      className="app-nav-link inbox-link"
      aria-current={path === '/inbox' ? 'page' : undefined}
      aria-label={pending > 0 ? `Inbox, ${pending} waiting` : 'Inbox'}
      data-testid="inbox-link"
    >
      Inbox
      {pending > 0 && (
        <span className="inbox-count" data-testid="inbox-count">
          {pending}
        </span>
      )}
    </Link>
  );
}
