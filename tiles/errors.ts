import type { ErrorCode } from '../protocol/index.ts';

/**
 * An error a user can act on: a code from protocol/errors.ts and a one-line message that names the
 * problem (and the file where there is one). Anything else reaching the top is a bug.
 */
export class SlideError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SlideError';
    this.code = code;
  }
}

export function isSlideError(e: unknown): e is SlideError {
  return e instanceof SlideError;
}

const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
const NO_SPACE_TEXT = /no space left on device|disk quota exceeded|database or disk is full/i;

/**
 * A full disk as the user should hear of it: one error code and no internal path (the system's own
 * message names the file it was writing). null when `e` is something else.
 */
export function noSpaceError(e: unknown): SlideError | null {
  const code = (e as { code?: unknown } | null)?.code;
  const text = e instanceof Error ? e.message : String(e);
  if ((typeof code === 'string' && NO_SPACE_CODES.has(code)) || NO_SPACE_TEXT.test(text))
    return new SlideError('INSUFFICIENT_STORAGE', 'no space left on the server', { cause: e });
  return null;
}
