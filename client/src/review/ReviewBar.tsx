import type { AnnotationClass } from '../../../protocol/review.ts';
import type { AnnotationTool } from '../viewer/AnnotationOverlay.tsx';
import { ANNOTATION_CLASSES, ANNOTATION_KINDS, KIND_LABELS } from './constants.ts';
import type { Room } from './useReviewRoom.ts';

/** Kinds drawn with a tool here; the others (several points or polygons in one) come from imports. */
const DRAWN_KINDS = new Set<string>(['point', 'line', 'rectangle', 'ellipse', 'polygon', 'freehand']);

interface Props {
  room: Room;
  tool: AnnotationTool;
  onTool: (t: AnnotationTool) => void;
  cls: AnnotationClass;
  onClass: (c: AnnotationClass) => void;
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

/** The session strip under the viewer bar: connection, drawing tools, class, undo/redo. */
export function ReviewBar({ room, tool, onTool, cls, onClass }: Props) {
  const s = room.session;
  return (
    <div className="review-bar" role="toolbar" aria-label="Review session tools" data-testid="review-bar">
      <span className="review-title" title={s.session?.title}>
        Review: {s.session?.title ?? '…'}
      </span>
      <Connection room={room} />
      <div className="tool-group" aria-label="Annotation tools">
        <button
          type="button"
          className={`tbtn${tool === 'select' ? ' on' : ''}`}
          aria-pressed={tool === 'select'}
          onClick={() => onTool('select')}
          title="Select and move annotations (drag); Delete removes the selected one"
          data-ann-tool="select"
        >
          Select
        </button>
        {ANNOTATION_KINDS.filter((k) => DRAWN_KINDS.has(k)).map((k) => (
          <button
            key={k}
            type="button"
            className={`tbtn${tool === k ? ' on' : ''}`}
            aria-pressed={tool === k}
            onClick={() => onTool(k)}
            title={
              k === 'polygon'
                ? 'Polygon: click vertices, double-click or Enter to close'
                : k === 'point'
                  ? 'Point: click'
                  : `${KIND_LABELS[k]}: drag`
            }
            data-ann-tool={k}
          >
            {KIND_LABELS[k]}
          </button>
        ))}
      </div>
      <label className="class-pick">
        <svg width="12" height="12" aria-hidden="true">
          <rect width="12" height="12" rx="2" fill={cls.color} />
        </svg>
        <select
          className="tselect"
          value={cls.name}
          onChange={(e) => {
            const c = ANNOTATION_CLASSES.find((x) => x.name === e.target.value);
            if (c) onClass(c);
          }}
          aria-label="Class of new annotations"
          data-testid="class-picker"
        >
          {ANNOTATION_CLASSES.map((c) => (
            <option key={c.name}>{c.name}</option>
          ))}
        </select>
      </label>
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
