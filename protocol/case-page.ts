import type { CaseDto, CaseStatus, SecondOpinionDto } from './cases.ts';
import type { SourceFormat } from './slides.ts';

/**
 * The case page, the viewer's case bar and "Mark reported" with its undo.
 *
 * Who sees a case here (everyone else gets 404 NOT_FOUND, as for an accession that does not exist):
 * administrators every case; a lab manager their own site's cases and those assigned to their
 * site's pathologists; a pathologist the cases assigned to them. Specialists see none (what they are
 * sent is de-identified and reaches them through their inbox).
 *
 * Routes (signed in):
 *   GET  /api/cases/by-accession/{accession}   CasePageDto
 *   GET  /api/slides/{slideId}/case?case={accession}   CaseBarDto (the case the slide is read in:
 *        the named one, else the newest visible case holding the slide; 404 when there is none)
 *   GET  /api/slide-cases?ids={id},{id}…        SlideCasesDto (up to 200 slides; the library's links)
 *   POST /api/cases/{id}/report                 → ReportResult (the assigned pathologist; audited)
 *   POST /api/cases/{id}/report/undo            → CaseDto (the same user, within REPORT_UNDO_MS, and only
 *        while nothing else changed the case; audited; 409 CONFLICT otherwise)
 *
 * A slide counts as read by a user once they opened it in the viewer (its manifest was asked for).
 */

/** How long "Mark reported" can be undone. The server allows REPORT_UNDO_GRACE_MS more for transit. */
export const REPORT_UNDO_MS = 10_000;
export const REPORT_UNDO_GRACE_MS = 2_000;

export interface CaseSlideDto {
  id: string;
  /** The name as the asking user sees the slide; null when they may not see it. */
  name: string | null;
  visible: boolean;
  width: number;
  height: number;
  /** Null when the user may not see the slide. */
  sourceFormat: SourceFormat | null;
  objectivePower: number | null;
  /** Stored annotations on the slide in the asking user's site's scope. */
  annotations: number;
  /** When the asking user first opened it in the viewer; null: not read yet. */
  readAt: string | null;
}

export interface CaseOpinionAnswerDto {
  by: string;
  diagnosis: string;
  confidence: string;
  text: string;
  at: string;
}

export interface CaseOpinionDto extends SecondOpinionDto {
  question: string;
  requestedByName: string | null;
  answers: CaseOpinionAnswerDto[];
}

export interface CaseHistoryEntryDto {
  id: number;
  at: string;
  userName: string | null;
  action: string;
  detail: Record<string, unknown>;
}

export interface CasePageDto {
  case: CaseDto;
  siteName: string;
  slides: CaseSlideDto[];
  /** The first slide (in case order) the asking user has not read; null when all are read. */
  firstUnread: string | null;
  opinions: CaseOpinionDto[];
  /** The case's audit trail, newest first (up to 200 entries). */
  history: CaseHistoryEntryDto[];
  /** Display names of the people the history's entries name by id (assignee, from, to). */
  people: Record<string, string>;
  /** Whether the asking user may mark it reported now. */
  canReport: boolean;
  /** Until when the asking user may undo their "Mark reported"; null when there is nothing to undo. */
  undoUntil: string | null;
}

export interface CaseBarDto {
  caseId: string;
  accession: string;
  status: CaseStatus;
  /** The case's slides the asking user may see, in case order. */
  slides: { id: string; name: string; readAt: string | null }[];
}

/** Slide id → the accessions of the visible cases holding it. */
export type SlideCasesDto = Record<string, string[]>;

export interface ReportResult {
  case: CaseDto;
  /** Until when the reporter may undo (the client's toast shows REPORT_UNDO_MS of it). */
  undoUntil: string;
}
