import type { ErrorCode } from './errors.ts';

export const JOB_STATES = ['queued', 'running', 'done', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** `GET /api/jobs/{id}` */
export interface JobDto {
  id: string;
  state: JobState;
  /** 0..100, meaningful while running. */
  percent: number;
  /** Current step, e.g. "reading", "writing pyramid". */
  stage: string | null;
  name: string;
  slideId: string | null;
  /**
   * Set when the upload was already in the library (the same content, stored before for the
   * uploader's site): the slide and the name the site knows it by.
   */
  duplicateOf?: { slideId: string; name: string } | null;
  error: { code: ErrorCode; message: string } | null;
  createdAt: string;
  updatedAt: string;
}

/** `POST /api/slides` answer (202). */
export interface UploadAccepted {
  jobId: string;
  name: string;
  bytes: number;
  /** Set when the slide is viewable at once (served from its source while it converts). */
  slideId?: string;
}
