import type { RequestHandler } from 'express';
import { HttpError } from './errors.ts';

/**
 * An import's body parser whose over-the-limit body becomes 413 IMPORT_TOO_LARGE naming the
 * documented limit (the parser's own message says only "request entity too large").
 */
export function importBody(parser: RequestHandler, what: string, limitBytes: number): RequestHandler {
  return (req, res, next) => {
    void parser(req, res, (err?: unknown) => {
      if ((err as { type?: unknown } | undefined)?.type === 'entity.too.large')
        return next(
          new HttpError('IMPORT_TOO_LARGE', `Expected ${what} of at most ${limitBytes / 1024 ** 2} MB`),
        );
      next(err);
    });
  };
}
