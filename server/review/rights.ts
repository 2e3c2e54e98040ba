import { permissionsOf } from '../../protocol/index.ts';
import type { SlideGrant } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';

/**
 * What each kind of access to a slide allows in review, in one place (REST routes and the socket
 * hub both ask here).
 *
 * - The slide's own site (a `site` grant; admins have one on every slide): view it, host review
 *   sessions on it, import annotations onto it, and, as the host of a session, edit, delete and
 *   restore anyone's annotations in it.
 * - A share (a `share` grant, de-identified or not): view it; in an open session one is invited to,
 *   draw annotations, edit, delete and restore one's own, comment on anyone's, chat and give an
 *   opinion. Never host, import, or change another participant's annotation. A share-only user who
 *   hosts a session anyway (made before this rule, or whose site changed since) does not moderate it.
 */

/** Why `p` may not host a review session on a slide seen through `grant`; null when they may. */
export function hostRefusal(p: Principal, grant: SlideGrant): string | null {
  if (!permissionsOf(p.user.role).share) return `your role (${p.user.role}) may not host review sessions`;
  if (grant.access !== 'site')
    return 'this slide is shared with you: only its own site may host a review session on it';
  return null;
}

/** Whether `p` may import annotations (GeoJSON) onto a slide seen through `grant`. */
export function mayImport(grant: SlideGrant): boolean {
  return grant.access === 'site';
}

/**
 * Whether `p` may change annotations of others in a session hosted by `hostId`: its host while the
 * host's own access to the slide is the site's, or an admin.
 */
export function moderates(p: Principal, grant: SlideGrant, hostId: string): boolean {
  if (p.user.role === 'admin') return true;
  return p.user.id === hostId && grant.access === 'site';
}

/**
 * Outside a session (REST), a slide's annotations are its owning site's set: the members of that
 * site (any role) and admins create, edit and delete their own, and comment on any; lab managers of
 * the site and admins moderate (edit and delete anyone's). A share shows the sharing site's set
 * read-only: drawing on a shared slide happens in a session its own site hosts.
 */

/** Why a slide seen through `grant` may not have its annotations changed outside a session; null: it may. */
export function writeRefusal(grant: SlideGrant): string | null {
  if (grant.access !== 'site')
    return 'this slide is shared with you to view: annotate it in a review session its own site hosts';
  return null;
}

/** Whether `p` may change others' annotations outside a session: the site's lab managers and admins. */
export function moderatesOutsideSession(p: Principal, grant: SlideGrant): boolean {
  if (p.user.role === 'admin') return true;
  return grant.access === 'site' && p.user.role === 'lab_manager';
}
