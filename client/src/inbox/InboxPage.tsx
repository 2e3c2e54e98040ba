import { useEffect, useState } from 'react';
import type { InboxItemDto } from '../../../protocol/review.ts';
import { formatDay } from '../cases/format.ts';
import { errorMessage } from '../cases/useLoader.ts';
import { PageHeader } from '../ui/PageHeader.tsx';
import { Link } from '../ui/router.tsx';
import { Spinner } from '../ui/states.tsx';
import { answerInvitation } from './api.ts';
import { absoluteLink, dueText, inboxOrder } from './format.ts';
import { reloadInbox, useInbox } from './useInbox.ts';
import './inbox.css';

function Invitation({ item }: { item: InboxItemDto }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const due = dueText(item.dueAt);
  const answer = (r: 'accept' | 'decline') => {
    setBusy(true);
    setError(null);
    answerInvitation(item.sessionId, r).then(
      () => {
        setBusy(false);
        reloadInbox();
      },
      (e: unknown) => {
        setBusy(false);
        setError(errorMessage(e));
      },
    );
  };
  const copy = () => {
    void navigator.clipboard?.writeText(absoluteLink(item.link, window.location.origin)).then(
      () => {
        setCopied(true);
        setTimeout(() => setCopied(false), 2000);
      },
      () => setError('The link could not be copied: select it in the address bar of the opened review.'),
    );
  };
  return (
    <li
      className={`invitation ${item.response}`}
      data-testid="invitation"
      data-session={item.sessionId}
      data-response={item.response}
    >
      <div className="invitation-main">
        <span className="badge">{item.kind === 'second_opinion' ? 'Second opinion' : 'Review'}</span>
        <strong className="invitation-title">{item.title}</strong>
        {due && (
          <span
            className={`small ${due.startsWith('Overdue') ? 'error-text' : 'muted'}`}
            title={item.dueAt ?? ''}
          >
            {due}
          </span>
        )}
      </div>
      {item.question && <p className="invitation-question">“{item.question}”</p>}
      <p className="muted small">
        From {item.fromName}, {item.fromSiteName} · {formatDay(item.invitedAt)}
        {item.response !== 'pending' && ` · ${item.response === 'accepted' ? 'Accepted' : 'Declined'}`}
      </p>
      <div className="invitation-actions">
        {item.response !== 'declined' && (
          <Link to={item.link} className="btn small primary">
            Open
          </Link>
        )}
        {item.response === 'pending' && (
          <>
            <button type="button" className="btn small" disabled={busy} onClick={() => answer('accept')}>
              Accept
            </button>
            <button type="button" className="btn small" disabled={busy} onClick={() => answer('decline')}>
              Decline
            </button>
          </>
        )}
        <button type="button" className="btn small" onClick={copy} data-testid="copy-link">
          {copied ? 'Link copied' : 'Copy link'}
        </button>
      </div>
      {error && (
        <p className="error-text small" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

/** `/inbox`: the reviews and second opinions one is invited to, answered here. */
export default function InboxPage() {
  const inbox = useInbox();
  useEffect(() => {
    document.title = 'Inbox · Tessera';
  }, []);
  return (
    <div className="library cases-page">
      <PageHeader title="Inbox" />
      <main className="lib-main inbox">
        {!inbox ? (
          <Spinner label="Loading your inbox…" />
        ) : inbox.items.length === 0 ? (
          <div className="empty">
            <h2>No invitations</h2>
            <p className="muted">
              Reviews and second opinions you are asked to join appear here as they come.
            </p>
          </div>
        ) : (
          <>
            <p className="muted" data-testid="inbox-summary">
              {inbox.pending === 0
                ? 'Everything answered.'
                : `${inbox.pending} invitation${inbox.pending === 1 ? '' : 's'} waiting for your answer.`}
            </p>
            <ul className="invitations">
              {inboxOrder(inbox.items).map((i) => (
                <Invitation key={i.sessionId} item={i} />
              ))}
            </ul>
          </>
        )}
      </main>
    </div>
  );
}
