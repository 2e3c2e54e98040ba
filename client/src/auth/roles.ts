import type { Role } from '../../../protocol/index.ts';

/**
 * protocol/auth.ts's ROLE_LABELS. Copied, not imported: a value import from protocol/auth.ts would
 * bring zod into the bundle (~80 kB). roles.test.ts keeps the two equal.
 */
export const ROLE_LABELS: Record<Role, string> = {
  pathologist: 'Pathologist',
  specialist: 'Specialist (external reviewer)',
  lab_manager: 'Lab manager',
  admin: 'Administrator',
};

export function roleLabel(role: Role): string {
  return ROLE_LABELS[role] ?? role;
}

/** Up to two letters for the avatar: "Ada Lovelace" → "AL", "north.path" → "NO". */
export function initials(displayName: string): string {
  const words = displayName
    .trim()
    .split(/[\s._@-]+/)
    .filter((w) => w.length > 0);
  if (words.length === 0) return '?';
  if (words.length === 1) return words[0]!.slice(0, 2).toUpperCase();
  return (words[0]![0]! + words[words.length - 1]![0]!).toUpperCase();
}
