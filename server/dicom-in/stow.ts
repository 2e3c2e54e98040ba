/**
 * STOW-RS in (PS3.18 10.5): a scanner or router pushes the instances of a slide series, in one
 * request or several (routers split large series). Each part is streamed to disk, its header read,
 * and a slide instance filed with the others of its series; a series that no instance has reached
 * for `stowSettleSeconds`, while no STOW-RS request of its site is in progress, is handed to the
 * ingest queue as one slide, under a job that was made with its first instance (its progress and
 * errors are an upload's). The answer lists what was taken (Referenced SOP Sequence) and what was not, and why
 * (Failed SOP Sequence).
 */
import { createHash, randomUUID } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { type DicomInstanceHeader, isSlideError, readDicomHeader } from '../../tiles/index.ts';
import type { Principal } from '../auth/auth.ts';
import type { ServerContext } from '../context.ts';
import { HttpError } from '../http/errors.ts';
import { MAX_SERIES_INSTANCES } from './archive.ts';
import { MultipartError, parseRelatedType, readMultipart } from './multipart.ts';

/** Failure Reason values (PS3.18 Table 10.5.3-3; PS3.7 Annex C). */
export const FAILURE = {
  /** A series over its instance or byte limit. */
  OUT_OF_RESOURCES: 0xa700,
  /** An instance of another study than the one in the request's path. */
  STUDY_MISMATCH: 0xa900,
  /** Not a DICOM Part 10 file, or one whose header cannot be read. */
  CANNOT_UNDERSTAND: 0xc000,
  /** Anything but VL Whole Slide Microscopy Image Storage. */
  SOP_CLASS_NOT_SUPPORTED: 0x0122,
  PROCESSING_FAILURE: 0x0110,
} as const;

export interface StowOutcome {
  /** 200 all stored, 202 some, 409 none. */
  status: 200 | 202 | 409;
  /** The DICOM JSON answer. */
  body: Record<string, unknown>;
  /** Jobs the taken instances belong to (one per series). */
  jobs: string[];
}

interface PendingSeries {
  key: string;
  jobId: string;
  /** The job row, made with the series' first instance. */
  created: Promise<unknown>;
  dir: string;
  name: string;
  seriesUid: string;
  userId: string;
  siteId: string;
  instances: Set<string>;
  bytes: number;
  /** Instances being moved into `dir` right now: the series is not handed over meanwhile. */
  moving: number;
  timer: NodeJS.Timeout | null;
}

type Item = Record<string, { vr: string; Value?: unknown[] }>;

const ui = (v: string | null): { vr: string; Value?: unknown[] } =>
  v ? { vr: 'UI', Value: [v] } : { vr: 'UI' };

export class StowReceiver {
  private readonly pending = new Map<string, PendingSeries>();
  /**
   * STOW-RS requests in progress per site. A series settles only once none is: the next part of a
   * request may be a large instance of a series already waiting, and its series is known only once
   * the part has arrived.
   */
  private readonly open = new Map<string, number>();

  constructor(private readonly ctx: ServerContext) {}

  /** The name a series is known by: the slide's barcode, the series description, else its UID's end. */
  static seriesName(h: DicomInstanceHeader): string {
    const text = (h.containerIdentifier ?? h.seriesDescription ?? '').trim().slice(0, 120);
    return text || `DICOM series …${(h.seriesUid ?? '').slice(-12)}`;
  }

  /**
   * Take a STOW-RS request body. Throws HttpError for a request that cannot be a STOW-RS request
   * (media type, size, malformed multipart); instances that cannot be taken are answered for in
   * the Failed SOP Sequence.
   */
  async receive(
    req: Readable & { headers: Record<string, string | string[] | undefined> },
    p: Principal,
    o: { study?: string; ip: string | null },
  ): Promise<StowOutcome> {
    const site = p.user.siteId;
    this.open.set(site, (this.open.get(site) ?? 0) + 1);
    try {
      return await this.receiveBody(req, p, o);
    } finally {
      const left = (this.open.get(site) ?? 1) - 1;
      if (left > 0) this.open.set(site, left);
      else this.open.delete(site);
      // The site's series settle from the end of its last request.
      for (const s of this.pending.values()) if (s.siteId === site) this.arm(s);
    }
  }

  private async receiveBody(
    req: Readable & { headers: Record<string, string | string[] | undefined> },
    p: Principal,
    o: { study?: string; ip: string | null },
  ): Promise<StowOutcome> {
    const related = parseRelatedType(String(req.headers['content-type'] ?? ''));
    if (!related || (related.type !== '' && related.type !== 'application/dicom'))
      throw new HttpError(
        'UNSUPPORTED_FORMAT',
        'STOW-RS here takes multipart/related; type="application/dicom" (DICOM Part 10 instances)',
      );
    const max = this.ctx.config.maxUploadBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > max)
      throw new HttpError(
        'UPLOAD_TOO_LARGE',
        `request of ${declared} bytes is larger than the limit of ${max}`,
      );
    const uploads = path.join(this.ctx.config.dataDir, 'uploads');
    const dir = path.join(uploads, `stow-${randomUUID()}`);
    await mkdir(dir, { recursive: true });
    const referenced: Item[] = [];
    const failed: Item[] = [];
    const jobs = new Set<string>();
    let total = 0;
    let parts = 0;
    let sink: FileHandle | null = null;
    let file = '';
    try {
      for await (const ev of readMultipart(req as AsyncIterable<Buffer>, related.boundary)) {
        if (ev.kind === 'part') {
          file = path.join(dir, `part-${++parts}.dcm`);
          sink = await open(file, 'wx');
        } else if (ev.kind === 'data') {
          total += ev.chunk.length;
          if (total > max)
            throw new HttpError('UPLOAD_TOO_LARGE', `request is larger than the limit of ${max} bytes`);
          await sink!.write(ev.chunk);
        } else {
          await sink!.close();
          sink = null;
          const r = await this.take(file, p, o.study);
          if (r.ok) {
            referenced.push({
              '00081150': ui(r.header.sopClassUid),
              '00081155': ui(r.header.sopInstanceUid),
            });
            jobs.add(r.jobId);
          } else {
            failed.push({
              '00081150': ui(r.header?.sopClassUid ?? null),
              '00081155': ui(r.header?.sopInstanceUid ?? null),
              '00081197': { vr: 'US', Value: [r.reason] },
            });
          }
        }
      }
    } catch (e) {
      await sink?.close().catch(() => undefined);
      if (e instanceof MultipartError)
        throw new HttpError('BAD_REQUEST', `malformed STOW-RS body: ${e.message}`);
      if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ECONNRESET')
        throw new HttpError('BAD_REQUEST', 'client went away during the request');
      throw e;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    if (parts === 0) throw new HttpError('BAD_REQUEST', 'no instance in the STOW-RS request');
    await this.ctx.audit.record({
      action: 'slide.stow',
      actor: p.user,
      ip: o.ip,
      targetType: 'job',
      ...(jobs.size === 1 ? { targetId: [...jobs][0]! } : {}),
      targetSiteId: p.user.siteId,
      detail: {
        instances: referenced.length,
        failed: failed.length,
        bytes: total,
        jobs: [...jobs],
        credential: p.via,
      },
    });
    const body: Record<string, unknown> = {};
    if (referenced.length) body['00081199'] = { vr: 'SQ', Value: referenced };
    if (failed.length) body['00081198'] = { vr: 'SQ', Value: failed };
    const status = failed.length === 0 ? 200 : referenced.length ? 202 : 409;
    return { status, body, jobs: [...jobs] };
  }

  /** One received part: filed with its series, or the reason it is refused (the file goes). */
  private async take(
    file: string,
    p: Principal,
    study: string | undefined,
  ): Promise<
    | { ok: true; header: DicomInstanceHeader; jobId: string }
    | { ok: false; header: DicomInstanceHeader | null; reason: number }
  > {
    let h: DicomInstanceHeader;
    try {
      h = await readDicomHeader(file);
    } catch (e) {
      if (!isSlideError(e)) throw e;
      return { ok: false, header: null, reason: FAILURE.CANNOT_UNDERSTAND };
    }
    if (!h.wsi) return { ok: false, header: h, reason: FAILURE.SOP_CLASS_NOT_SUPPORTED };
    if (!h.sopInstanceUid || !h.seriesUid || !h.studyUid)
      return { ok: false, header: h, reason: FAILURE.CANNOT_UNDERSTAND };
    if (study !== undefined && h.studyUid !== study)
      return { ok: false, header: h, reason: FAILURE.STUDY_MISMATCH };
    const { size } = await stat(file);
    const s = this.series(h, p);
    if (
      (!s.instances.has(h.sopInstanceUid) && s.instances.size >= MAX_SERIES_INSTANCES) ||
      s.bytes + size > this.ctx.config.maxUploadBytes
    )
      return { ok: false, header: h, reason: FAILURE.OUT_OF_RESOURCES };
    s.moving++;
    try {
      if (!(await s.created.then(() => true).catch(() => false)))
        return { ok: false, header: h, reason: FAILURE.PROCESSING_FAILURE };
      await rename(file, path.join(s.dir, `${h.sopInstanceUid}.dcm`));
    } finally {
      s.moving--;
    }
    s.instances.add(h.sopInstanceUid);
    s.bytes += size;
    void this.ctx.jobs
      .update(s.jobId, { stage: `receiving over STOW-RS: ${s.instances.size} instance(s)` })
      .catch(() => undefined);
    this.arm(s);
    return { ok: true, header: h, jobId: s.jobId };
  }

  /** The series an instance joins (per site: two sites pushing one series get a slide each). */
  private series(h: DicomInstanceHeader, p: Principal): PendingSeries {
    const key = createHash('sha256').update(`${p.user.siteId}\0${h.seriesUid}`).digest('hex').slice(0, 32);
    const found = this.pending.get(key);
    if (found) return found;
    const jobId = randomUUID();
    const dir = path.join(this.ctx.config.dataDir, 'uploads', `stow-series-${jobId}`);
    const name = StowReceiver.seriesName(h);
    const s: PendingSeries = {
      key,
      jobId,
      dir,
      name,
      seriesUid: h.seriesUid!,
      userId: p.user.id,
      siteId: p.user.siteId,
      instances: new Set(),
      bytes: 0,
      moving: 0,
      timer: null,
      created: (async () => {
        await mkdir(dir, { recursive: true });
        await this.ctx.jobs.create(jobId, 'ingest', name, { userId: p.user.id, siteId: p.user.siteId });
        await this.ctx.jobs.update(jobId, { stage: 'receiving over STOW-RS' });
      })(),
    };
    // A job row that could not be made fails the instance that asked; the next one tries anew.
    s.created.catch(() => this.pending.delete(key));
    this.pending.set(key, s);
    return s;
  }

  private arm(s: PendingSeries): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = setTimeout(() => void this.handOver(s), this.ctx.config.stowSettleSeconds * 1000);
    s.timer.unref();
  }

  /** The series has settled: one slide, ingested like an upload. */
  private async handOver(s: PendingSeries): Promise<void> {
    if (s.moving > 0 || this.open.has(s.siteId)) return this.arm(s);
    this.pending.delete(s.key);
    s.timer = null;
    try {
      await this.ctx.queue.enqueue(s.dir, s.name, s.dir, {
        userId: s.userId,
        siteId: s.siteId,
        jobId: s.jobId,
      });
    } catch (e) {
      this.ctx.log(`STOW-RS series ${s.seriesUid}: could not be queued: ${String(e)}`);
      await rm(s.dir, { recursive: true, force: true }).catch(() => undefined);
      await this.ctx.jobs
        .update(s.jobId, {
          state: 'failed',
          stage: null,
          error: {
            code: 'INGEST_FAILED',
            message: 'the series could not be queued for conversion; send it again',
          },
        })
        .catch(() => undefined);
    }
  }
}
