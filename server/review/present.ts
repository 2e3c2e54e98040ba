import type { ReviewSessionDto } from '../../protocol/index.ts';
import type { SlideGrant } from '../auth/access.ts';

/** What a participant who sees the slide de-identified is told the session is called. */
export const DEIDENTIFIED_SESSION_TITLE = 'Second opinion review';

/**
 * A session as a participant with `grant` on its slide may see it. A session's title is free text
 * written at the slide's own site (a second opinion's names the case), so anyone who sees the slide
 * de-identified, or no longer sees it, gets a generic title instead.
 */
export function presentSession<S extends ReviewSessionDto>(session: S, grant: SlideGrant | null): S {
  if (grant && !grant.deidentified) return session;
  return { ...session, title: DEIDENTIFIED_SESSION_TITLE };
}
