import type { Principal } from '../auth/auth.ts';
import type { ServerContext } from '../context.ts';

/** What a connection holds: who opened it, and the session it joined (if any). */
export interface Held {
  principal: Principal;
  sessionId?: string | undefined;
  slideId?: string | undefined;
}

export type Standing =
  | { ok: true; principal: Principal }
  | { ok: false; code: 'UNAUTHENTICATED' | 'SESSION_CLOSED' | 'FORBIDDEN'; message: string };

/**
 * The standing now of every connection this process holds, in a few queries whatever their number,
 * straight from the database (no cache, so changes made by another process without a notice show
 * too): the credential and its user (Auth.current), the joined session still open, and the user's
 * access to its slide (Access.grantsFor). Each answer is about the connection as it was at the call.
 */
export async function standings(ctx: ServerContext, live: readonly Held[]): Promise<Standing[]> {
  // As held at the call: a join may change a connection's session while the queries run, and an
  // answer must be about one state of it (a session read after the grants were asked for would have
  // none asked for it, and be refused).
  const held = live.map((h) => ({ principal: h.principal, sessionId: h.sessionId, slideId: h.slideId }));
  const principals = await ctx.auth.current(held.map((h) => h.principal));
  const sessionIds = [...new Set(held.flatMap((h) => (h.sessionId ? [h.sessionId] : [])))];
  const open = new Set(
    sessionIds.length === 0
      ? []
      : (
          await ctx.db
            .selectFrom('review_sessions')
            .select('id')
            .where('id', 'in', sessionIds)
            .where('status', '=', 'open')
            .execute()
        ).map((r) => r.id),
  );
  const asked: { i: number; p: Principal; slideId: string }[] = [];
  held.forEach((h, i) => {
    const p = principals[i];
    if (p && h.sessionId && h.slideId && open.has(h.sessionId)) asked.push({ i, p, slideId: h.slideId });
  });
  const grants = await ctx.access.grantsFor(asked);
  const visible = new Set(asked.filter((_, k) => grants[k] !== null).map((a) => a.i));
  return held.map((h, i): Standing => {
    const p = principals[i];
    if (!p) return { ok: false, code: 'UNAUTHENTICATED', message: 'signed out' };
    if (!h.sessionId) return { ok: true, principal: p };
    if (!open.has(h.sessionId))
      return { ok: false, code: 'SESSION_CLOSED', message: 'the session is closed' };
    if (!visible.has(i))
      return { ok: false, code: 'FORBIDDEN', message: 'your access to this slide has ended' };
    return { ok: true, principal: p };
  });
}
