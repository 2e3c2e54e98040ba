import type { Generated } from 'kysely';

/** Slides known to the server (the store holds the pixels; this is the index for listing and access). */
export interface SlidesTable {
  id: string;
  name: string;
  source_format: string;
  width: number;
  height: number;
  tile_size: number;
  levels: number;
  mpp_x: number | null;
  mpp_y: number | null;
  objective_power: number | null;
  associated: string; // JSON array of names
  created_at: string;
  site_id: string | null;
  /** The stain the name states (server/library/stain.ts); null when it states none. */
  stain: string | null;
  /**
   * 'stored'; 'converting' (served from its source while the store copy is made); 'source' (its
   * conversion failed, still served from its source); 'failed' (nothing to serve: 410). Never null
   * in the database (default 'stored'); typed nullable so inserts may leave it out.
   */
  status: string | null;
  /** Percent converted while converting. */
  progress: number | null;
  /** Why the conversion failed. */
  status_reason: string | null;
  /** The job converting it (while converting). */
  job_id: string | null;
  /** The source's copy served meanwhile, relative to the receiving node's data folder. */
  source_path: string | null;
}

/** Slides deleted while their conversion ran. */
export interface SlideWithdrawalsTable {
  slide_id: string;
  created_at: string;
}

/** A site that owns a slide (uploaded it), with the name it gave it. */
export interface SlideSitesTable {
  slide_id: string;
  site_id: string;
  name: string;
  created_at: string;
  uploaded_by: string | null;
  /** The stain this site's name states. */
  stain: string | null;
}

export interface JobsTable {
  id: string;
  kind: string;
  state: string;
  percent: number;
  stage: string | null;
  name: string;
  /** Set right before the slide is published (a crash after it is repaired on start); shown once done. */
  slide_id: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: string;
  updated_at: string;
  created_by: string | null;
  site_id: string | null;
}

export interface SitesTable {
  id: string;
  name: string;
  created_at: string;
}

export interface UsersTable {
  id: string;
  name: string;
  display_name: string;
  role: string;
  site_id: string;
  password_hash: string;
  disabled: number;
  created_at: string;
  updated_at: string;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  created_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
}

export interface TokensTable {
  id: string;
  user_id: string;
  token_hash: string;
  label: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  /** JSON of a TokenScope (server/auth/auth.ts) for a token limited to one job; null: a user's token. */
  scope: string | null;
}

export interface SharesTable {
  id: string;
  slide_id: string;
  grantee_user_id: string | null;
  grantee_site_id: string | null;
  deidentified: number;
  study_code: string | null;
  expires_at: string;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: string;
  user_id: string | null;
  user_name: string | null;
  site_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  target_site_id: string | null;
  detail: string;
  ip: string | null;
}

export interface AnnotationsTable {
  id: string;
  slide_id: string;
  author_id: string;
  deleted: number;
  version: number;
  doc: string;
  updated_at: string;
  /** The owning site whose set of annotations this is (see migration 0006). */
  site_id: string | null;
}

export interface AnnotationOpsTable {
  seq: Generated<number>;
  op_id: string;
  slide_id: string;
  annotation_id: string;
  user_id: string;
  type: string;
  after: string | null;
  before: string | null;
  at: string;
  site_id: string | null;
}

export interface ReviewSessionsTable {
  id: string;
  slide_id: string;
  title: string;
  host_id: string;
  status: string;
  created_at: string;
  closed_at: string | null;
  /** The hosting site: the session annotates in that site's set of the slide's annotations. */
  site_id: string | null;
}

export interface SessionInvitesTable {
  session_id: string;
  user_id: string;
  invited_at: string;
  /** 'accepted' or 'declined'; null while unanswered. */
  response: string | null;
  responded_at: string | null;
}

export interface ChatMessagesTable {
  id: string;
  session_id: string;
  user_id: string;
  user_name: string;
  text: string;
  at: string;
}

export interface OpinionsTable {
  id: string;
  session_id: string;
  slide_id: string;
  user_id: string;
  user_name: string;
  diagnosis: string;
  confidence: string;
  text: string;
  at: string;
}

export interface CasesTable {
  id: string;
  accession: string;
  site_id: string;
  specimen_type: string;
  subspecialty: string;
  priority: string;
  received_at: string;
  target_days: number;
  status: string;
  assigned_to: string | null;
  reported_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface CaseSlidesTable {
  case_id: string;
  slide_id: string;
}

export interface PathologistProfilesTable {
  user_id: string;
  subspecialties: string;
  weekly_capacity: number;
}

/** A pathologist's leave: the days from `starts_on` to `ends_on` (YYYY-MM-DD, both included; null: open). */
export interface LeavePeriodsTable {
  id: string;
  user_id: string;
  starts_on: string;
  ends_on: string | null;
  created_by: string | null;
  created_at: string;
}

export interface WorkloadRulesTable {
  specimen_type: string;
  points: number;
}

export interface BalanceRejectionsTable {
  case_id: string;
  situation: string;
  rejected_by: string;
  rejected_at: string;
}

export interface SecondOpinionsTable {
  id: string;
  case_id: string;
  requested_by: string;
  specialist_id: string;
  session_id: string;
  question: string;
  status: string;
  created_at: string;
}

/** The annotation classes on offer (an administrator's palette), in `position` order. */
export interface AnnotationClassesTable {
  name: string;
  color: string;
  position: number;
}

export interface MigrationsMeta {
  seq: Generated<number>;
}

/** A slide a user has opened in the viewer (first and latest time). */
export interface SlideReadsTable {
  user_id: string;
  slide_id: string;
  first_at: string;
  last_at: string;
}

/** A "Mark reported" that its reporter may still undo. */
export interface CaseReportUndoTable {
  case_id: string;
  reported_by: string;
  previous_status: string;
  case_updated_at: string;
  expires_at: string;
}

export interface Database {
  slides: SlidesTable;
  slide_sites: SlideSitesTable;
  slide_withdrawals: SlideWithdrawalsTable;
  jobs: JobsTable;
  sites: SitesTable;
  users: UsersTable;
  sessions: SessionsTable;
  tokens: TokensTable;
  shares: SharesTable;
  balance_rejections: BalanceRejectionsTable;
  audit: AuditTable;
  annotations: AnnotationsTable;
  annotation_ops: AnnotationOpsTable;
  review_sessions: ReviewSessionsTable;
  session_invites: SessionInvitesTable;
  chat_messages: ChatMessagesTable;
  opinions: OpinionsTable;
  cases: CasesTable;
  case_slides: CaseSlidesTable;
  pathologist_profiles: PathologistProfilesTable;
  leave_periods: LeavePeriodsTable;
  workload_rules: WorkloadRulesTable;
  second_opinions: SecondOpinionsTable;
  annotation_classes: AnnotationClassesTable;
  slide_reads: SlideReadsTable;
  case_report_undo: CaseReportUndoTable;
}
