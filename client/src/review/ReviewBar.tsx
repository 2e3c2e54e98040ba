import type { Room } from './useReviewRoom.ts';

interface Props {
  room: Room;
}

function Connection({ room }: { room: Room }) {
  const pending = room.session.pendingCount;
  const st = room.status.kind;
  const text =
    st === 'live'
      ? 'Connected'
      : st === 'connecting'
        ? 'Connecting…'
        : st === 'reconnecting'
          ? `Reconnecting…${pending > 0 ? ` ${pending} unsent change${pending === 1 ? '' : 's'}` : ''}`
          : 'Session ended';
  return (
    <span className={`conn conn-${st}`} data-testid="connection" data-state={st} role="status">
      <span className="dot" /> {text}
    </span>
  );
}

/**
 * The session strip under the viewer bar: connection, undo/redo and the session's notices. The
 * drawing tools are the viewer's own, the same in and out of a session.
 */
export function ReviewBar({ room }: Props) {
  const s = room.session;
  return (
    <div className="review-bar" role="toolbar" aria-label="Review session tools" data-testid="review-bar">
      <span className="review-title" title={s.session?.title}>
        Review: {s.session?.title ?? '…'}
      </span>
      <Connection room={room} />
      <div className="tool-group" aria-label="History">
        <button
          type="button"
          className="tbtn"
          onClick={room.undo}
          disabled={!s.canUndo}
          title="Undo my last change (Ctrl+Z)"
          data-testid="undo"
        >
          Undo
        </button>
        <button
          type="button"
          className="tbtn"
          onClick={room.redo}
          disabled={!s.canRedo}
          title="Redo (Ctrl+Shift+Z)"
          data-testid="redo"
        >
          Redo
        </button>
      </div>
      {room.notice && (
        <span className="review-notice" role="status" data-testid="review-notice">
          {room.notice}
        </span>
      )}
    </div>
  );
}
