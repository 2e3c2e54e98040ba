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
