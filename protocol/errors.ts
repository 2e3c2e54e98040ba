/**
 * Error codes shared by server, CLI and client. Every error a user can see carries one of these, so
 * clients can react to the code and people can search for it.
 */
export const ERROR_CODES = {
  BAD_REQUEST: 400,
  INVALID_PARAMETER: 400,
  /** A paging cursor that this list did not give (or gave for another sort order). */
  INVALID_CURSOR: 400,
  /** Free text about to leave the site carries a patient or case identifier. */
  IDENTIFIER_IN_TEXT: 400,
  EMPTY_FILE: 422,
  TRUNCATED_FILE: 422,
  NOT_AN_IMAGE: 415,
  UNSUPPORTED_FORMAT: 415,
  CORRUPT_FILE: 422,
  IMAGE_TOO_LARGE: 413,
  UPLOAD_TOO_LARGE: 413,
  /** An import (GeoJSON, CSV) over its documented size: body, features, points or rows. */
  IMPORT_TOO_LARGE: 413,
  MISSING_DEPENDENCY: 501,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  /** Too much work waiting (e.g. renders); try again after the response's Retry-After. */
  SERVER_BUSY: 503,
  CONFLICT: 409,
  NOT_FOUND: 404,
  SLIDE_NOT_FOUND: 404,
  /** A slide whose conversion failed and whose source cannot be served either: gone. */
  SLIDE_FAILED: 410,
  /** A frame number beyond an instance's frames (DICOMweb). */
  FRAME_NOT_FOUND: 404,
  /** None of the media types or transfer syntaxes the request accepts can be sent. */
  NOT_ACCEPTABLE: 406,
  JOB_NOT_FOUND: 404,
  /** A study or series asked of a DICOMweb archive that it does not hold (or that holds no slide). */
  STUDY_NOT_FOUND: 404,
  /** A DICOMweb archive that cannot be reached, refused the request or answered something malformed. */
  ARCHIVE_FAILED: 502,
  INGEST_FAILED: 500,
  /** An AI algorithm's job failed (timed out, crashed, answered malformed data, …): the message says why. */
  ALGORITHM_FAILED: 502,
  /** The server's disk is full (no internal path is ever named). */
  INSUFFICIENT_STORAGE: 507,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The JSON body of every error response. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  requestId?: string;
}
