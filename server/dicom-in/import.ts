/**
 * Slides pulled from a DICOMweb archive (PACS, VNA) that an administrator configured
 * (TESSERA_DICOMWEB_SOURCES): the server only ever fetches from those addresses, whatever a request
 * says. The study's slide series are found at once (an unknown study is answered at once); each
 * series then becomes a job that retrieves it (WADO-RS, streamed to disk) and hands it to the ingest
 * queue like an upload.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { DicomwebImportAccepted, DicomwebSourceDto } from '../../protocol/index.ts';
import type { Principal } from '../auth/auth.ts';
import type { DicomwebSource } from '../config.ts';
import type { ServerContext } from '../context.ts';
import { HttpError } from '../http/errors.ts';
import { DicomwebArchive, type SlideSeries } from './archive.ts';

/** Series retrieved at once by one process; more wait their turn. */
const RETRIEVALS_AT_ONCE = 2;

export class DicomwebImports {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly ctx: ServerContext) {}

  /** The configured archives, without credentials. */
  sources(): DicomwebSourceDto[] {
    return this.ctx.config.dicomwebSources.map((s) => ({ name: s.name, url: s.url }));
  }

  private source(name: string): DicomwebSource {
    const s = this.ctx.config.dicomwebSources.find((x) => x.name === name);
    if (!s)
      throw new HttpError(
        'INVALID_PARAMETER',
        this.ctx.config.dicomwebSources.length
          ? `no DICOMweb source named ${JSON.stringify(name.slice(0, 64))}; the configured ones are ${this.ctx.config.dicomwebSources.map((x) => x.name).join(', ')}`
          : 'no DICOMweb source is configured: an administrator sets TESSERA_DICOMWEB_SOURCES',
      );
    return s;
  }

  /** Find the study's slide series and queue a job for each; the retrieval runs after the answer. */
  async start(
    p: Principal,
    req: { source: string; study: string; series?: string | undefined },
    ip: string | null,
  ): Promise<DicomwebImportAccepted> {
    const source = this.source(req.source);
    const archive = new DicomwebArchive(source.url, { credentials: { basic: source.basic } });
    const found = await archive.slideSeries(req.study, req.series);
    const jobs: DicomwebImportAccepted['jobs'] = [];
    for (const s of found) {
      const jobId = randomUUID();
      const name = (s.description?.trim() || `${source.name} series …${s.seriesUid.slice(-12)}`).slice(
        0,
        120,
      );
      // The import's audit record is committed with its job's row: no import started unrecorded.
      await this.ctx.jobs.create(jobId, 'ingest', name, { userId: p.user.id, siteId: p.user.siteId }, (trx) =>
        this.ctx.audit.record(
          {
            action: 'slide.import',
            actor: p.user,
            ip,
            targetType: 'job',
            targetId: jobId,
            targetSiteId: p.user.siteId,
            detail: { source: source.name, study: s.studyUid, series: s.seriesUid, via: 'dicomweb' },
          },
          trx,
        ),
      );
      await this.ctx.jobs.update(jobId, { stage: `waiting to retrieve from ${source.name}` });
      jobs.push({ jobId, name, seriesUid: s.seriesUid });
      void this.turn(() => this.retrieve(archive, source, s, jobId, name, p));
    }
    return { jobs };
  }

  private async turn(work: () => Promise<void>): Promise<void> {
    if (this.running >= RETRIEVALS_AT_ONCE) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      await work();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async retrieve(
    archive: DicomwebArchive,
    source: DicomwebSource,
    s: SlideSeries,
    jobId: string,
    name: string,
    p: Principal,
  ): Promise<void> {
    const dir = path.join(this.ctx.config.dataDir, 'uploads', `dicomweb-${jobId}`);
    const of = s.instances ? ` of ${s.instances}` : '';
    try {
      await this.ctx.jobs.update(jobId, { state: 'running', stage: `retrieving from ${source.name}` });
      let last = 0;
      await archive.retrieveSeries(s, dir, { maxBytes: this.ctx.config.maxUploadBytes }, (n, bytes) => {
        const now = Date.now();
        if (now - last < 300) return;
        last = now;
        void this.ctx.jobs
          .update(jobId, {
            stage: `retrieving from ${source.name}: ${n}${of} instances, ${(bytes / 1e6).toFixed(1)} MB`,
            percent: s.instances ? Math.min(99, Math.round((100 * n) / s.instances)) : 0,
          })
          .catch(() => undefined);
      });
      await this.ctx.queue.enqueue(dir, name, dir, { userId: p.user.id, siteId: p.user.siteId, jobId });
    } catch (e) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      const error =
        e instanceof HttpError
          ? { code: e.code, message: e.message }
          : { code: 'INGEST_FAILED' as const, message: 'the series could not be retrieved' };
      if (!(e instanceof HttpError)) this.ctx.log(`import ${jobId} from ${source.name} failed: ${String(e)}`);
      await this.ctx.jobs.update(jobId, { state: 'failed', stage: null, error }).catch(() => undefined);
    }
  }
}
