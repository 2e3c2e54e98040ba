import type { InboxDto, InboxItemDto } from '../../protocol/index.ts';
import type { Access } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import type { Db } from '../db/index.ts';
import { HttpError } from '../http/errors.ts';
import { DEIDENTIFIED_SESSION_TITLE } from './present.ts';

const DAY = 86_400_000;

/**
 * A user's invitations: live reviews they were asked to join and second opinions asked of them, in
 * open sessions on slides they may still see; answered (accepted, declined) by the invitee alone.
 * A declined second opinion goes back to its requester, who may ask someone else.
 */
export class Inbox {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
  ) {}

  async list(p: Principal): Promise<InboxDto> {
    const rows = await this.db
      .selectFrom('session_invites')
      .innerJoin('review_sessions', 'review_sessions.id', 'session_invites.session_id')
      .innerJoin('users as host', 'host.id', 'review_sessions.host_id')
      .innerJoin('sites', 'sites.id', 'host.site_id')
      .leftJoin('second_opinions', (j) =>
        j
          .onRef('second_opinions.session_id', '=', 'session_invites.session_id')
          .onRef('second_opinions.specialist_id', '=', 'session_invites.user_id'),
      )
      .leftJoin('cases', 'cases.id', 'second_opinions.case_id')
      .select([
        'session_invites.session_id',
        'session_invites.invited_at',
        'session_invites.response',
        'review_sessions.slide_id',
        'review_sessions.title',
        'host.display_name as from_name',
        'sites.name as from_site',
        'second_opinions.id as opinion_id',
        'second_opinions.question',
        'cases.received_at',
        'cases.target_days',
      ])
      .where('session_invites.user_id', '=', p.user.id)
      .where('review_sessions.status', '=', 'open')
      .orderBy('session_invites.invited_at', 'desc')
      .limit(500)
      .execute();
    const items: InboxItemDto[] = [];
    for (const r of rows) {
      // Nothing about a session on a slide the user may no longer see (a share ended).
      const grant = await this.access.grant(p, r.slide_id);
      if (!grant) continue;
      items.push({
        sessionId: r.session_id,
        slideId: r.slide_id,
        kind: r.opinion_id ? 'second_opinion' : 'review',
        title: grant.deidentified ? DEIDENTIFIED_SESSION_TITLE : r.title,
        question: r.question ?? null,
        fromName: r.from_name,
        fromSiteName: r.from_site,
        invitedAt: r.invited_at,
        dueAt:
          r.received_at && r.target_days != null
            ? new Date(Date.parse(r.received_at) + r.target_days * DAY).toISOString()
            : null,
        response: r.response === 'accepted' ? 'accepted' : r.response === 'declined' ? 'declined' : 'pending',
        link: `/view/${r.slide_id}?session=${r.session_id}`,
      });
    }
    return { items, pending: items.filter((i) => i.response === 'pending').length };
  }

  /** Invitations not yet answered, for the header's count. */
  async pending(p: Principal): Promise<number> {
    return (await this.list(p)).pending;
  }

  /** The invitee's answer; a declined second opinion is marked so and its case reopened for another. */
  async respond(p: Principal, sessionId: string, response: 'accept' | 'decline'): Promise<InboxItemDto> {
    const mine = (await this.list(p)).items.find((i) => i.sessionId === sessionId);
    if (!mine) throw new HttpError('NOT_FOUND', 'no such invitation');
    const now = new Date().toISOString();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('session_invites')
        .set({ response: response === 'accept' ? 'accepted' : 'declined', responded_at: now })
        .where('session_id', '=', sessionId)
        .where('user_id', '=', p.user.id)
        .execute();
      if (mine.kind !== 'second_opinion') return;
      const opinion = await trx
        .selectFrom('second_opinions')
        .select(['id', 'case_id', 'status'])
        .where('session_id', '=', sessionId)
        .where('specialist_id', '=', p.user.id)
        .executeTakeFirst();
      if (!opinion || opinion.status === 'answered') return;
      await trx
        .updateTable('second_opinions')
        .set({ status: response === 'accept' ? 'waiting' : 'declined' })
        .where('id', '=', opinion.id)
        .execute();
      if (response !== 'decline') return;
      const others = await trx
        .selectFrom('second_opinions')
        .select('id')
        .where('case_id', '=', opinion.case_id)
        .where('status', '=', 'waiting')
        .executeTakeFirst();
      if (!others)
        await trx
          .updateTable('cases')
          .set({ status: 'in_review', updated_at: now })
          .where('id', '=', opinion.case_id)
          .where('status', '=', 'second_opinion_requested')
          .execute();
    });
    return { ...mine, response: response === 'accept' ? 'accepted' : 'declined' };
  }
}
