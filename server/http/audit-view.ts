import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../auth/auth.ts';
import type { ServerContext } from '../context.ts';
import { recordRead } from '../cases/reads.ts';
import { clientIp } from './auth.ts';

/**
 * Record that `p` opened a slide (through `via`: manifest, dzi, iiif, tiles, thumbnail, associated),
 * at most once per user, slide and ten minutes. A failure to write is logged, never shown to the user
 * as a failed image.
 */
export function viewed(
  ctx: ServerContext,
  req: IncomingMessage,
  p: Principal,
  slideId: string,
  slideSite: string | null,
  via: string,
): Promise<void> {
  // The viewer asks for the manifest once per opening: the slide is read (case pages, "Start review").
  // Written before the answer goes, so a case page loaded next counts it.
  if (via === 'manifest')
    return recordRead(ctx.db, p.user.id, slideId)
      .catch((e: unknown) => ctx.log(`read record failed: ${e instanceof Error ? e.message : String(e)}`))
      .then(() => audited(ctx, req, p, slideId, slideSite, via));
  return audited(ctx, req, p, slideId, slideSite, via);
}

/**
 * viewed(), recorded once the answer is out or the client has gone: its commit (a synchronous disk
 * flush) is then not part of the wait for a descriptor or a first tile. Images only: a manifest's
 * read is recorded before its answer, for the case page loaded next.
 */
export function viewedAfterAnswer(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  p: Principal,
  slideId: string,
  slideSite: string | null,
  via: string,
): void {
  if (ctx.audit.viewedRecently(p.user.id, slideId, 'slide.view')) return;
  const record = (): void => void audited(ctx, req, p, slideId, slideSite, via);
  // A client gone while its access was looked up: 'close' has fired already.
  if (res.closed) record();
  else res.once('close', record);
}

function audited(
  ctx: ServerContext,
  req: IncomingMessage,
  p: Principal,
  slideId: string,
  slideSite: string | null,
  via: string,
): Promise<void> {
  // Every tile asks: the answer is nearly always "already recorded", without a promise chain.
  if (ctx.audit.viewedRecently(p.user.id, slideId, 'slide.view')) return DONE;
  return ctx.audit
    .view({
      action: 'slide.view',
      actor: p.user,
      targetId: slideId,
      targetSiteId: slideSite,
      ip: clientIp(req),
      detail: { via, credential: p.via },
    })
    .catch((e: unknown) => ctx.log(`audit write failed: ${e instanceof Error ? e.message : String(e)}`));
}

const DONE = Promise.resolve();
