import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type {
  CaseDto,
  SecondOpinionCandidatesDto,
  SecondOpinionDto,
  SecondOpinionRequestSchema,
  SpecialistCandidateDto,
  Subspecialty,
} from '../../protocol/index.ts';
import { SUBSPECIALTIES } from '../../protocol/index.ts';
import type { Access } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import type { Db } from '../db/index.ts';
import type { SlidesTable } from '../db/schema.ts';
import { HttpError } from '../http/errors.ts';
import { onLeave } from '../admin/leave.ts';
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
      status: r.status === 'answered' ? 'answered' : r.status === 'declined' ? 'declined' : 'waiting',
      createdAt: r.created_at,
    }));
  }

  /**
   * Who may give a second opinion in `sub`: specialists at any site whose subspecialties include it
   * (a specialist without any is asked for none), enabled, not on leave, not the one asking; least
   * loaded (fewest opinions waiting) first.
   */
  async candidates(p: Principal, sub: Subspecialty): Promise<SecondOpinionCandidatesDto> {
    const rows = await this.d.db
      .selectFrom('users')
      .innerJoin('sites', 'sites.id', 'users.site_id')
      .innerJoin('pathologist_profiles', 'pathologist_profiles.user_id', 'users.id')
      .select([
        'users.id',
        'users.display_name',
        'users.site_id',
        'sites.name as site_name',
        'pathologist_profiles.subspecialties',
      ])
      .where('users.role', '=', 'specialist')
      .where('users.disabled', '=', 0)
      .where('users.id', '!=', p.user.id)
      .execute();
    const away = await onLeave(
      this.d.db,
      rows.map((r) => r.id),
    );
    const waiting = new Map<string, number>();
    for (const w of await this.d.db
      .selectFrom('second_opinions')
      .select('specialist_id')
      .where('status', '=', 'waiting')
      .execute())
      waiting.set(w.specialist_id, (waiting.get(w.specialist_id) ?? 0) + 1);
    const candidates: SpecialistCandidateDto[] = rows
      .map((r) => ({ r, subs: parseSubspecialties(r.subspecialties) }))
      .filter(({ r, subs }) => subs.includes(sub) && !away.has(r.id))
      .map(({ r, subs }) => ({
        userId: r.id,
        name: r.display_name,
        siteId: r.site_id,
        siteName: r.site_name,
        subspecialties: subs,
        waiting: waiting.get(r.id) ?? 0,
      }))
      .sort(
        (a, b) => a.waiting - b.waiting || a.name.localeCompare(b.name) || (a.userId < b.userId ? -1 : 1),
      );
    return { subspecialty: sub, suggested: candidates[0]?.userId ?? null, candidates };
  }

  /** The one asked: the caller's pick among the candidates, else the suggested one. */
  private async chooseSpecialist(
    p: Principal,
    sub: Subspecialty,
    pick?: string,
  ): Promise<SpecialistCandidateDto> {
    const { candidates } = await this.candidates(p, sub);
    if (candidates.length === 0)
      throw new HttpError(
        'CONFLICT',
        `No specialist in ${subspecialtyLabel(sub)} is available in the network (none listed with it, or all on leave); nothing was sent`,
      );
    if (pick === undefined) return candidates[0]!;
    const chosen = candidates.find((s) => s.userId === pick);
    if (!chosen)
      throw new HttpError(
        'CONFLICT',
        `That specialist cannot be asked about ${subspecialtyLabel(sub)} (not listed with it, on leave or disabled); nothing was sent`,
      );
    return chosen;
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
    const chosen = await this.chooseSpecialist(p, req.subspecialty ?? c.subspecialty, req.specialistId);

    // One code for the request: the specialist sees the case's slides as one study.
    const studyCode = randomStudyCode();
    const expiresAt = new Date(Date.now() + SHARE_DAYS * 86_400_000).toISOString();
    for (const row of rows)
      await this.d.access.createShare(p, row, {
        userId: chosen.userId,
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
    await this.d.sessions.invite(sessionId, chosen.userId);
    // The question reaches the specialist in the session itself, checked above and without the title.
    await this.d.sessions.addChat(sessionId, { id: p.user.id, name: p.user.displayName }, question);
    const opinion: SecondOpinionDto = {
      id: randomUUID(),
      caseId: c.id,
      specialistId: chosen.userId,
      specialistName: chosen.name,
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
        specialist_id: chosen.userId,
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

/** A profile's subspecialties as stored (JSON), known ones only. */
function parseSubspecialties(json: string | null): Subspecialty[] {
  try {
    const v = JSON.parse(json ?? '[]') as unknown;
    return Array.isArray(v) ? SUBSPECIALTIES.filter((s) => v.includes(s)) : [];
  } catch {
    return [];
  }
}

const subspecialtyLabel = (s: Subspecialty): string =>
  s === 'gi' ? 'GI pathology' : s === 'general' ? 'general pathology' : s;
