import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ERROR_CODES, type ErrorBody, type ErrorCode } from '../../protocol/index.ts';
import { isSlideError, noSpaceError } from '../../tiles/index.ts';

/** An error to show the client as is: HTTP status from its code. */
export class HttpError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status: number = ERROR_CODES[code],
  ) {
    super(message);
  }
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new HttpError('NOT_FOUND', `no route for ${req.method} ${req.path}`));
};

/**
 * The one place errors become responses: typed errors keep their code and message, anything else is
 * a plain 500 whose details stay in the log.
 */
export function errorHandler(log: (msg: string) => void): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const requestId = String(res.locals.requestId ?? '');
    let status = 500;
    let body: ErrorBody = { code: 'INTERNAL', message: 'internal error', requestId };
    if (err instanceof HttpError) {
      status = err.status;
      body = { code: err.code, message: err.message, requestId };
    } else if (isSlideError(err)) {
      status = ERROR_CODES[err.code];
      body = { code: err.code, message: err.message, requestId };
    } else if (noSpaceError(err)) {
      // A full disk (an upload being written, the database): said plainly, the path only in the log.
      status = ERROR_CODES.INSUFFICIENT_STORAGE;
      body = { code: 'INSUFFICIENT_STORAGE', message: 'no space left on the server', requestId };
      log(
        `[${requestId}] ${req.method} ${req.originalUrl}: ${err instanceof Error ? err.message : String(err)}`,
      );
    } else if (isBodyParserError(err)) {
      status = err.status;
      body = { code: status === 413 ? 'UPLOAD_TOO_LARGE' : 'BAD_REQUEST', message: err.message, requestId };
    } else {
      log(
        `[${requestId}] ${req.method} ${req.originalUrl} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
    res.status(status).json(body);
  };
}

function isBodyParserError(e: unknown): e is { status: number; message: string } {
  return (
    typeof e === 'object' &&
    e !== null &&
    'status' in e &&
    typeof (e as { status: unknown }).status === 'number' &&
    (e as { status: number }).status < 500
  );
}

/**
 * Validate a request body or socket message with a zod schema: the data, or the first problem as
 * one line naming its field (`patch.label: Too big …`).
 */
export function validate<T>(
  schema: {
    safeParse(
      v: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  v: unknown,
): { ok: true; data: T } | { ok: false; message: string } {
  const r = schema.safeParse(v);
  if (r.success) return { ok: true, data: r.data };
  const i = r.error.issues[0];
  const where = i && i.path.length ? `${i.path.map(String).join('.')}: ` : '';
  return { ok: false, message: `${where}${i?.message ?? 'invalid'}` };
}
