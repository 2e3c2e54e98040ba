import type { Priority } from '../../../protocol/cases.ts';

export function PriorityBadge({ priority }: { priority: Priority }) {
  return <span className={`badge priority-${priority}`}>{priority === 'urgent' ? 'Urgent' : 'Routine'}</span>;
}
