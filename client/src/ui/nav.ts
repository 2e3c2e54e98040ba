import type { Role } from '../../../protocol/index.ts';

export interface NavItem {
  to: string;
  label: string;
}

const LIBRARY: NavItem = { to: '/', label: 'Library' };
const WORKLIST: NavItem = { to: '/worklist', label: 'Worklist' };
const DASHBOARD: NavItem = { to: '/dashboard', label: 'Dashboard' };
const ADMIN: NavItem = { to: '/admin', label: 'Admin' };
const AI_QA: NavItem = { to: '/ai-qa', label: 'AI quality' };

/**
 * The pages a role can use: pathologists have a worklist, lab managers and administrators the
 * dashboard and the algorithms' quality figures.
 */
export function navItems(role: Role): NavItem[] {
  switch (role) {
    case 'pathologist':
      return [LIBRARY, WORKLIST];
    case 'lab_manager':
    case 'admin':
      return [LIBRARY, DASHBOARD, AI_QA, ADMIN];
    default:
      return [LIBRARY];
  }
}

export function canSeeWorklist(role: Role): boolean {
  return role === 'pathologist';
}

export function canSeeDashboard(role: Role): boolean {
  return role === 'lab_manager' || role === 'admin';
}

/** The server answers GET /api/ai/qa for these roles only. */
export function canSeeAiQa(role: Role): boolean {
  return role === 'lab_manager' || role === 'admin';
}

/** Administrators manage everyone; lab managers the people of their own site. */
export function canSeeAdmin(role: Role): boolean {
  return role === 'lab_manager' || role === 'admin';
}

/** Which item the path belongs to ("/" only for the library itself). */
export function isCurrent(item: NavItem, pathname: string): boolean {
  if (item.to === '/') return pathname === '/' || pathname === '/index.html';
  return pathname === item.to || pathname.startsWith(`${item.to}/`);
}
