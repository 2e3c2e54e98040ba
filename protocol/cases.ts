import { z } from 'zod';

/**
 * Cases, worklists and workload balancing: the contract between server, CLI and client.
 *
 * Routes (signed in; 403 FORBIDDEN where the role may not):
 *   GET  /api/cases?site=&status=&subspecialty=&assignee=&q=&limit=   CaseDto[]  (lab managers: their site's and
 *        cases assigned to their site's pathologists; admins: all; pathologists: assigned to them)
 *   GET  /api/cases/{id}                       CaseDto
 *   POST /api/cases                            CreateCaseRequest → CaseDto (lab_manager, admin)
 *   PATCH /api/cases/{id}                      UpdateCaseRequest → CaseDto (lab manager: assign / status;
 *                                              assigned pathologist: status in_review / reported)
 *   POST /api/cases/{id}/slides                {slideId} → CaseDto (attach a slide; lab_manager, admin)
 *   DELETE /api/cases/{id}/slides/{slideId}    → CaseDto (detach a slide; lab_manager, admin; audited)
 *   POST /api/cases/import                     text/csv body → ImportReport (lab_manager, admin)
 *   GET  /api/worklist                         WorklistItem[] (the signed-in pathologist's open cases)
 *   GET  /api/pathologists                     PathologistDto[] (lab_manager, admin)
 *   PATCH /api/pathologists/{userId}           UpdatePathologistRequest → PathologistDto (lab_manager, admin)
 *   GET  /api/dashboard?site=&subspecialty=    DashboardDto (lab_manager, admin)
 *   GET  /api/balance/suggestions?site=&subspecialty=   BalanceResult (lab_manager, admin)
 *   POST /api/balance/decisions                BalanceDecision → CaseDto (accept moves the case; both audited)
 *   POST /api/cases/{id}/second-opinion        SecondOpinionRequest → SecondOpinionDto (assigned pathologist,
 *                                              lab_manager): picks a specialist of the subspecialty at any site,
 *                                              shares the case's slides with them and opens a review session;
 *                                              400 IDENTIFIER_IN_TEXT when the question names the case
 */

export const SUBSPECIALTIES = ['breast', 'gi', 'skin', 'haematopathology', 'neuro', 'general'] as const;
export type Subspecialty = (typeof SUBSPECIALTIES)[number];

export const PRIORITIES = ['urgent', 'routine'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const CASE_STATUSES = [
  'received',
  'scanned',
  'assigned',
  'in_review',
  'second_opinion_requested',
  'reported',
] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

export const SPECIMEN_TYPES = [
  'biopsy',
  'resection',
  'cytology',
  'excision',
  'frozen_section',
  'consult',
] as const;

/** Workload points: a case's points are its specimen type's, plus `perSlide` for every slide. */
export const DEFAULT_WORKLOAD = {
  specimen: { biopsy: 1, resection: 3, cytology: 1, excision: 2, frozen_section: 2, consult: 2 } as Record<
    string,
    number
  >,
  perSlide: 0.25,
  /** For a specimen type not in the table. */
  fallback: 1.5,
};

export interface CaseDto {
  id: string;
  accession: string;
  siteId: string;
  specimenType: string;
  subspecialty: Subspecialty;
  priority: Priority;
  receivedAt: string;
  targetDays: number;
  /** receivedAt + targetDays. */
  dueAt: string;
  /** Days left to the target (negative: breached), from now. */
  daysToBreach: number;
  status: CaseStatus;
  assignedTo: string | null;
  assignedName: string | null;
  reportedAt: string | null;
  points: number;
  slideIds: string[];
}

export const CreateCaseRequestSchema = z.object({
  accession: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9/_.-]{0,39}$/),
  siteId: z.string().min(1).max(48),
  specimenType: z.string().min(1).max(40),
  subspecialty: z.enum(SUBSPECIALTIES),
  priority: z.enum(PRIORITIES),
  receivedAt: z.iso.date().or(z.iso.datetime({ offset: true })),
  targetDays: z.number().int().min(1).max(90).optional(),
});
export type CreateCaseRequest = z.infer<typeof CreateCaseRequestSchema>;

export const UpdateCaseRequestSchema = z
  .object({
    status: z.enum(CASE_STATUSES),
    assignedTo: z.string().min(1).max(64).nullable(),
    priority: z.enum(PRIORITIES),
  })
  .partial();
export type UpdateCaseRequest = z.infer<typeof UpdateCaseRequestSchema>;

export interface ImportReport {
  imported: number;
  errors: { row: number; message: string }[];
}

export interface WorklistItem extends CaseDto {
  thumbnails: string[];
}

export interface PathologistDto {
  userId: string;
  name: string;
  siteId: string;
  siteName: string;
  subspecialties: Subspecialty[];
  weeklyCapacity: number;
  onLeave: boolean;
  /** Points of open cases assigned. */
  load: number;
  openCases: number;
}

export const UpdatePathologistRequestSchema = z
  .object({
    subspecialties: z.array(z.enum(SUBSPECIALTIES)).max(SUBSPECIALTIES.length),
    weeklyCapacity: z.number().min(0).max(1000),
    onLeave: z.boolean(),
  })
  .partial();

export interface DashboardDto {
  sites: {
    siteId: string;
    siteName: string;
    openCases: number;
    unassigned: number;
    points: number;
    capacity: number;
    nearBreach: number;
    breached: number;
    secondOpinionsWaiting: number;
  }[];
  pathologists: PathologistDto[];
  /** Open cases at the end of each of the last 8 weeks, per site. */
  backlog: { week: string; bySite: Record<string, number> }[];
  /** Median and 90th percentile turnaround (days) of cases reported in each of the last 8 weeks. */
  turnaround: { week: string; median: number | null; p90: number | null; reported: number }[];
}

export interface Suggestion {
  caseId: string;
  accession: string;
  from: string | null;
  fromName: string | null;
  to: string;
  toName: string;
  crossSite: boolean;
  reason: string;
  points: number;
  priority: Priority;
  subspecialty: Subspecialty;
  /** Days to the case's target (negative: breached). */
  daysToBreach: number;
  /** The receiver: their site, subspecialties, load (points, before this move) and capacity. */
  toSiteId: string;
  toSiteName: string;
  toSubspecialties: Subspecialty[];
  toLoad: number;
  toCapacity: number;
}

export interface BalanceResult {
  suggestions: Suggestion[];
  /** Pathologists still over capacity after every suggestion (no eligible capacity left). */
  stillOver: { userId: string; name: string; load: number; capacity: number }[];
  millis: number;
}

export const BalanceDecisionSchema = z.object({
  caseId: z.uuid(),
  to: z.uuid(),
  /** The assignee the suggestion moved it from: the decision is refused if that changed meanwhile. */
  from: z.uuid().nullable(),
  accept: z.boolean(),
});

/** Several decisions at once ("accept all", "accept selected"), each taken or refused on its own. */
export const BalanceDecisionsSchema = z.object({
  decisions: z.array(BalanceDecisionSchema).min(1).max(5000),
});

/** What became of each decision of a batch, in order. */
export interface BalanceDecisionsResult {
  applied: number;
  refused: number;
  results: { caseId: string; ok: boolean; message?: string }[];
}
export type BalanceDecision = z.infer<typeof BalanceDecisionSchema>;

export const SecondOpinionRequestSchema = z.object({
  question: z.string().min(1).max(2000),
  /** Defaults to the case's subspecialty. */
  subspecialty: z.enum(SUBSPECIALTIES).optional(),
  /** One of the candidates (GET /api/cases/{id}/second-opinion/candidates); defaults to the suggested one. */
  specialistId: z.string().min(1).max(64).optional(),
});

/** A specialist who may be asked: their subspecialties include the case's, enabled, not on leave. */
export interface SpecialistCandidateDto {
  userId: string;
  name: string;
  siteId: string;
  siteName: string;
  subspecialties: Subspecialty[];
  /** Second opinions asked of them and not yet answered. */
  waiting: number;
}

/**
 * GET /api/cases/{id}/second-opinion/candidates[?subspecialty=]: who may give a second opinion on the
 * case, least loaded first; `suggested` is the first, null when there is nobody (nothing can be sent).
 */
export interface SecondOpinionCandidatesDto {
  subspecialty: Subspecialty;
  suggested: string | null;
  candidates: SpecialistCandidateDto[];
}

export interface SecondOpinionDto {
  id: string;
  caseId: string;
  specialistId: string;
  specialistName: string;
  sessionId: string;
  status: 'waiting' | 'answered' | 'declined';
  createdAt: string;
}
