import { randomUUID } from 'node:crypto';
import type { ChatMessageDto, OpinionDto, OpinionRequest, ReviewSessionDto } from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import type { OpinionsTable, ReviewSessionsTable } from '../db/schema.ts';

function opinionDto(r: OpinionsTable): OpinionDto {
  return {
    id: r.id,
    sessionId: r.session_id,
    slideId: r.slide_id,
    userId: r.user_id,
    userName: r.user_name,
    diagnosis: r.diagnosis,
    confidence: r.confidence as OpinionDto['confidence'],
    text: r.text,
    at: r.at,
  };
}

/** Review sessions, their invitations, chat and second opinions. */
export class SessionRepo {
  constructor(private readonly db: Db) {}

  /** `siteId`: the hosting site, whose set of the slide's annotations the session works in. */
  async create(slideId: string, title: string, hostId: string, siteId: string | null): Promise<string> {
    const id = randomUUID();
    await this.db
      .insertInto('review_sessions')
      .values({
        id,
        slide_id: slideId,
        title,
        host_id: hostId,
        status: 'open',
        created_at: new Date().toISOString(),
        closed_at: null,
        site_id: siteId,
      })
      .execute();
    return id;
  }

  async row(id: string): Promise<ReviewSessionsTable | null> {
    return (
      (await this.db.selectFrom('review_sessions').selectAll().where('id', '=', id).executeTakeFirst()) ??
      null
    );
  }

  async get(id: string): Promise<ReviewSessionDto | null> {
    const r = await this.row(id);
    return r ? this.dto(r) : null;
  }

  private async dto(r: ReviewSessionsTable): Promise<ReviewSessionDto> {
    const host = await this.db
      .selectFrom('users')
      .select('display_name')
      .where('id', '=', r.host_id)
      .executeTakeFirst();
    const invited = await this.db
      .selectFrom('session_invites')
      .innerJoin('users', 'users.id', 'session_invites.user_id')
      .innerJoin('sites', 'sites.id', 'users.site_id')
      .select(['users.id as userId', 'users.display_name as name', 'sites.name as siteName'])
      .where('session_invites.session_id', '=', r.id)
      .orderBy('session_invites.invited_at')
      .execute();
    return {
      id: r.id,
      slideId: r.slide_id,
      title: r.title,
      hostId: r.host_id,
      hostName: host?.display_name ?? r.host_id,
      status: r.status === 'closed' ? 'closed' : 'open',
      invited,
      createdAt: r.created_at,
      closedAt: r.closed_at,
    };
  }

  /** Sessions a user hosts or is invited to (all of them for `userId` null), newest first. */
  async listFor(userId: string | null): Promise<ReviewSessionDto[]> {
    let q = this.db.selectFrom('review_sessions').selectAll();
    if (userId !== null)
      q = q.where((eb) =>
        eb.or([
          eb('host_id', '=', userId),
          eb('id', 'in', eb.selectFrom('session_invites').select('session_id').where('user_id', '=', userId)),
        ]),
      );
    const rows = await q.orderBy('created_at', 'desc').limit(200).execute();
    return Promise.all(rows.map((r) => this.dto(r)));
  }

  async invite(sessionId: string, userId: string): Promise<void> {
    await this.db
      .insertInto('session_invites')
      .values({ session_id: sessionId, user_id: userId, invited_at: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['session_id', 'user_id']).doNothing())
      .execute();
  }

  async isInvited(sessionId: string, userId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('session_invites')
      .select('user_id')
      .where('session_id', '=', sessionId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return r !== undefined;
  }

  async close(id: string): Promise<void> {
    await this.db
      .updateTable('review_sessions')
      .set({ status: 'closed', closed_at: new Date().toISOString() })
      .where('id', '=', id)
      .execute();
  }

  async addChat(
    sessionId: string,
    user: { id: string; name: string },
    text: string,
  ): Promise<ChatMessageDto> {
    const m: ChatMessageDto = {
      id: randomUUID(),
      userId: user.id,
      userName: user.name,
      text,
      at: new Date().toISOString(),
    };
    await this.db
      .insertInto('chat_messages')
      .values({ id: m.id, session_id: sessionId, user_id: m.userId, user_name: m.userName, text, at: m.at })
      .execute();
    return m;
  }

  async chat(sessionId: string, limit = 500): Promise<ChatMessageDto[]> {
    const rows = await this.db
      .selectFrom('chat_messages')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('at', 'desc')
      .limit(limit)
      .execute();
    return rows
      .reverse()
      .map((r) => ({ id: r.id, userId: r.user_id, userName: r.user_name, text: r.text, at: r.at }));
  }

  async addOpinion(
    session: { id: string; slideId: string },
    user: { id: string; name: string },
    o: OpinionRequest,
  ): Promise<OpinionDto> {
    const row: OpinionsTable = {
      id: randomUUID(),
      session_id: session.id,
      slide_id: session.slideId,
      user_id: user.id,
      user_name: user.name,
      diagnosis: o.diagnosis,
      confidence: o.confidence,
      text: o.text,
      at: new Date().toISOString(),
    };
    await this.db.insertInto('opinions').values(row).execute();
    return opinionDto(row);
  }

  async opinions(sessionId: string): Promise<OpinionDto[]> {
    const rows = await this.db
      .selectFrom('opinions')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('at')
      .execute();
    return rows.map(opinionDto);
  }
}
