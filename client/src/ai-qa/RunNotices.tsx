import './notices.css';
import { useEffect, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import type { AiRunEndedDto, ClientToServerEvents, ServerToClientEvents } from '../../../protocol/index.ts';
import { getSlide } from '../api.ts';
import { Link } from '../ui/router.tsx';
import { addNotice, runNotice, type RunNotice } from './notices.ts';

/** Other parts of the page (the viewer's AI panel, the library) may listen to refresh what they show. */
export const AI_RUN_EVENT = 'tessera:ai-run';
const SHOWN_MS = 20_000;

/**
 * Notices of AI runs ending while the user looks at a slide (`slideId`) or at the library (null):
 * pushed by the server over a socket.io connection of its own, which hears only of runs the user may
 * see. A reconnect watches again (rooms do not survive it).
 */
export function RunNotices({ slideId }: { slideId: string | null }) {
  const [notices, setNotices] = useState<RunNotice[]>([]);

  useEffect(() => {
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
      path: '/socket.io',
      transports: ['websocket'],
    });
    const ac = new AbortController();
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const show = (n: RunNotice) => {
      setNotices((l) => addNotice(l, n));
      const t = setTimeout(() => {
        timers.delete(t);
        setNotices((l) => l.filter((x) => x.id !== n.id));
      }, SHOWN_MS);
      timers.add(t);
    };
    socket.on('connect', () => socket.emit('aiWatch', { slideId }, () => {}));
    socket.on('aiRun', (e: AiRunEndedDto) => {
      window.dispatchEvent(new CustomEvent(AI_RUN_EVENT, { detail: e }));
      if (slideId !== null) return show(runNotice(e, null));
      // In the library, the slide by the name this user sees it under.
      getSlide(e.run.slideId, ac.signal).then(
        (s) => show(runNotice(e, s.name)),
        () => !ac.signal.aborted && show(runNotice(e, 'a slide')),
      );
    });
    return () => {
      ac.abort();
      for (const t of timers) clearTimeout(t);
      socket.disconnect();
      setNotices([]);
    };
  }, [slideId]);

  if (notices.length === 0) return null;
  return (
    <div
      className={`run-notices${slideId === null ? '' : ' in-viewer'}`}
      role="status"
      aria-live="polite"
      data-testid="ai-run-notices"
    >
      {notices.map((n) => (
        <div key={n.id} className={`run-notice ${n.tone}`} data-run={n.id} data-state={n.tone}>
          <div className="run-notice-text">
            <strong>{n.title}</strong>
            <span>{n.detail}</span>
          </div>
          {slideId === null && (
            <Link to={`/view/${encodeURIComponent(n.slideId)}`} className="run-notice-open">
              Open slide
            </Link>
          )}
          <button
            type="button"
            className="run-notice-close"
            aria-label="Dismiss"
            onClick={() => setNotices((l) => l.filter((x) => x.id !== n.id))}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
