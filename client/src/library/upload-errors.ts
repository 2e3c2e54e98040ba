/**
 * An upload's failure as a person reads it first: one plain sentence by the error's code, the
 * server's own words and the code beneath it (for a bug report or the help desk).
 */
const PLAIN: Record<string, string> = {
  TRUNCATED_FILE: 'This file is cut short — the upload or copy did not finish.',
  CORRUPT_FILE: 'This file is damaged: part of the image cannot be read.',
  EMPTY_FILE: 'This file is empty.',
  NOT_AN_IMAGE: 'This file is not a slide image.',
  UNSUPPORTED_FORMAT: 'This is not a slide format Tessera reads.',
  IMAGE_TOO_LARGE: 'This slide is larger than this server accepts.',
  UPLOAD_TOO_LARGE: 'This file is larger than this server accepts.',
  INSUFFICIENT_STORAGE: "The server's disk is full: nothing was stored. Tell your administrator.",
  FORBIDDEN: 'You may not add slides here.',
  UNAUTHENTICATED: 'You were signed out: sign in and upload it again.',
  RATE_LIMITED: 'Too many uploads at once: try again in a minute.',
  SERVER_BUSY: 'The server is busy: try again in a minute.',
  MISSING_DEPENDENCY: 'The server lacks a program this format needs. Tell your administrator.',
  INGEST_FAILED: 'The slide could not be converted.',
  NETWORK: 'The connection dropped before the upload finished: try again.',
  STUDY_NOT_FOUND: 'The archive holds no slide under this study or series.',
  ARCHIVE_FAILED: 'The archive could not be reached or answered with an error.',
  IMPORT_TOO_LARGE: 'This series is larger than this server accepts.',
};

export interface UploadError {
  /** The plain sentence. */
  text: string;
  /** The server's message and code, shown beneath. */
  detail: string;
}

export function uploadError(code: string | null, message: string): UploadError {
  const text = (code && PLAIN[code]) || 'The slide could not be added.';
  return { text, detail: code ? `${message} (${code})` : message };
}
