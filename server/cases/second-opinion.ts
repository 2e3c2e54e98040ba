import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { CaseDto, SecondOpinionDto, SecondOpinionRequestSchema } from '../../protocol/index.ts';
import type { Access } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import type { Db } from '../db/index.ts';
import type { SlidesTable } from '../db/schema.ts';
import { HttpError } from '../http/errors.ts';
import type { SessionRepo } from '../review/sessions.ts';
import { randomStudyCode, refuseIdentifiers } from './identifiers.ts';
import type { CaseService } from './service.ts';

/** How long the specialist's de-identified share of the case's slides lasts. */
const SHARE_DAYS = 30;
/** Slide names shorter than this (letters and digits) are too generic to count as identifiers. */
const MIN_NAME_CHARS = 6;

export interface SecondOpinionDeps {
  db: Db;
  access: Access;
  sessions: SessionRepo;
  cases: CaseService;
}

/**
 * Second opinions: a case's slides go, de-identified, to a specialist at any site, with an invitation
 * to a live review session. What leaves the site is the pixels, a random study code and the question;
 * the question is refused when it names the case (its accession, a slide's file name) or holds an NHS
 * number. The session's own title names the case for the requesting site; the specialist sees a
 * generic title (review/present.ts) and reads the question as the requester's first chat message.
 */
export class SecondOpinionService {
  constructor(private readonly d: SecondOpinionDeps) {}

  async list(caseId: string): Promise<SecondOpinionDto[]> {
    const rows = await this.d.db
      .selectFrom('second_opinions')
      .innerJoin('users', 'users.id', 'second_opinions.specialist_id')
      .selectAll('second_opinions')
      .select('users.display_name as specialist_name')
      .where('case_id', '=', caseId)
      .orderBy('second_opinions.created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      caseId: r.case_id,
      specialistId: r.specialist_id,
      specialistName: r.specialist_name,
      sessionId: r.session_id,
      status: r.status === 'answered' ? 'answered' : 'waiting',
      createdAt: r.created_at,
    }));
  }

  /** The least busy specialist of the subspecialty at any site (no subspecialties listed: any). */
  private async chooseSpecialist(sub: string): Promise<{ id: string; display_name: string }> {
    const specialists = await this.d.db
      .selectFrom('users')
      .leftJoin('pathologist_profiles', 'pathologist_profiles.user_id', 'users.id')
      .select(['users.id', 'users.display_name', 'pathologist_profiles.subspecialties'])
      .where('users.role', '=', 'specialist')
      .where('users.disabled', '=', 0)
      .execute();
    const fit = specialists.filter((s) => {
      const subs = JSON.parse(s.subspecialties ?? '[]') as string[];
      return subs.length === 0 || subs.includes(sub) || sub === 'general';
    });
    if (fit.length === 0) throw new HttpError('CONFLICT', `no specialist for ${sub} in the network`);
    const waiting = await this.d.db
      .selectFrom('second_opinions')
      .select('specialist_id')
      .where('status', '=', 'waiting')
      .execute();
    const busy = (id: string): number => waiting.filter((w) => w.specialist_id === id).length;
    return fit.sort((a, b) => busy(a.id) - busy(b.id) || (a.id < b.id ? -1 : 1))[0]!;
  }

  /**
   * Ask for a second opinion on case `c` (already checked visible to `p`). Everything is checked
   * before anything is shared: slides present and shareable by `p`, the question free of identifiers.
   */
  async request(
    p: Principal,
    c: CaseDto,
    req: z.infer<typeof SecondOpinionRequestSchema>,
  ): Promise<{ opinion: SecondOpinionDto; studyCode: string }> {
    if (c.slideIds.length === 0)
      throw new HttpError('CONFLICT', `case ${c.accession} has no slides to review`);
    const rows: SlidesTable[] = [];
    for (const slideId of c.slideIds) {
      const found = await this.d.access.slide(p, slideId);
      if (!found || !this.d.access.canShare(p, found.row))
        throw new HttpError('FORBIDDEN', `you may not share slide ${slideId} of this case`);
      rows.push(found.row);
    }
    const question = req.question.trim();
    if (question === '') throw new HttpError('INVALID_PARAMETER', 'Expected a question for the specialist');
    refuseIdentifiers('question', question, [
      { what: "the case's accession", value: c.accession },
      ...rows
        .filter((r) => r.name.replace(/[^\p{L}\p{N}]/gu, '').length >= MIN_NAME_CHARS)
        .map((r) => ({ what: 'the name of one of its slides', value: r.name })),
    ]);
    const chosen = await this.chooseSpecialist(req.subspecialty ?? c.subspecialty);

    // One code for the request: the specialist sees the case's slides as one study.
    const studyCode = randomStudyCode();
    const expiresAt = new Date(Date.now() + SHARE_DAYS * 86_400_000).toISOString();
    for (const row of rows)
      await this.d.access.createShare(p, row, {
        userId: chosen.id,
        deidentified: true,
        studyCode,
        expiresAt,
      });
    // Hosted by the requesting site: the session shows and keeps that site's annotations.
    const hostGrant = await this.d.access.slide(p, c.slideIds[0]!);
    const sessionId = await this.d.sessions.create(
      c.slideIds[0]!,
      `Second opinion ${c.accession}: ${question}`.slice(0, 200),
      p.user.id,
      hostGrant?.grant.siteId ?? null,
    );
    await this.d.sessions.invite(sessionId, chosen.id);
    // The question reaches the specialist in the session itself, checked above and without the title.
    await this.d.sessions.addChat(sessionId, { id: p.user.id, name: p.user.displayName }, question);
    const opinion: SecondOpinionDto = {
      id: randomUUID(),
      caseId: c.id,
      specialistId: chosen.id,
      specialistName: chosen.display_name,
      sessionId,
      status: 'waiting',
      createdAt: new Date().toISOString(),
    };
    await this.d.db
      .insertInto('second_opinions')
      .values({
        id: opinion.id,
        case_id: c.id,
        requested_by: p.user.id,
        specialist_id: chosen.id,
        session_id: sessionId,
        question,
        status: 'waiting',
        created_at: opinion.createdAt,
      })
      .execute();
    await this.d.cases.update(c.id, { status: 'second_opinion_requested' });
    return { opinion, studyCode };
  }
}
