import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { ErrorCode, JobDto } from '../../protocol/index.ts';
import {
  SlideError,
  type StoreSpec,
  type UploadArea,
  ingestIsolated,
  isSlideError,
} from '../../tiles/index.ts';
import type { JobRepo } from '../db/jobs.ts';
import type { SlideRepo } from '../db/slides.ts';

/** What onStored is told of the job that stored a slide. */
export interface StoredJob {
  name: string;
  siteId: string | null;
  caseAccession: string | null;
  /** The scanner's metadata (barcode fields carry the accession on many scanners). */
  properties: Record<string, string>;
}

export interface IngestQueueOptions {
  dataDir: string;
  /** Where converters publish; default the local store in dataDir. */
  store?: StoreSpec;
  /**
   * The store's upload area (an object store's): a shared queue stages uploads there for workers
   * that do not see this node's data folder, and workers fetch them from there.
   */
  uploads?: UploadArea;
  tileSize: number;
  jpegQuality: number;
  sharpConcurrency: number;
  concurrency: number;
  timeoutMs: number;
  log: (msg: string) => void;
  /** Called once a slide is stored (links it to its case); a failure is logged, the job stays done. */
  onStored?: (slideId: string, job: StoredJob) => Promise<void>;
}

/** What an ingest job carries (a Redis queue stores it as the job's data). */
export interface IngestJob {
  jobId: string;
  /**
   * The slide to ingest: a path (relative ones from the data folder, which nodes sharing it may
   * mount at different places), or with `upload` a path inside the staged upload ('' for all of it).
   */
  input: string;
  name: string;
  /** Removed once the job ends (uploads are staged copies); relative ones from the data folder. */
  cleanup: string | null;
  /** Key of the upload in the store's upload area, removed once the job ends; absent: none. */
  upload?: string | null;
  /** Site that owns the stored slide once done (content another site holds gains this owner too). */
  siteId: string | null;
  userId: string | null;
  caseAccession: string | null;
}

/**
 * Who a job is for: the uploader, the site that will own the slide, the case it belongs to. `jobId`
 * names a job row made before the input was there (a series retrieved from an archive, or pushed
 * over STOW-RS, reports its own progress first): the queue takes that row over instead of making one.
 */
export type JobOwner = {
  userId: string | null;
  siteId: string | null;
  caseAccession?: string | null;
  jobId?: string;
  /** Start the conversion no sooner than this many ms from now (this process's queue only). */
  startAfterMs?: number;
};

/** The job's row (queued) and what a queue carries of it. */
export async function newIngestJob(
  jobs: JobRepo,
  input: string,
  name: string,
  cleanup: string | null,
  owner: JobOwner,
  upload: string | null = null,
): Promise<{ job: JobDto; data: IngestJob }> {
  const jobId = owner.jobId ?? randomUUID();
  let job: JobDto | null;
  if (owner.jobId) {
    await jobs.update(jobId, { state: 'queued', percent: 0, stage: 'queued for conversion' });
    job = await jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId} to queue`);
  } else job = await jobs.create(jobId, 'ingest', name, owner);
  const data: IngestJob = {
    jobId,
    input,
    name,
    cleanup,
    upload,
    siteId: owner.siteId,
    userId: owner.userId,
    caseAccession: owner.caseAccession ?? null,
  };
  return { job, data };
}

/** Where ingest jobs wait: this process (IngestQueue) or Redis, shared by every node (RedisIngestQueue). */
export interface JobQueue {
  enqueue(input: string, name: string, cleanup: string | null, owner?: JobOwner): Promise<JobDto>;
  /** Resolves when no job is queued or running here (tests, shutdown). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs ingest jobs off the request path, each in its own child process, a few at a time, in this
 * process. Job state lives in the database so any server process can answer GET /api/jobs/{id}.
 */
export class IngestQueue implements JobQueue {
  private readonly waiting: IngestJob[] = [];
  private running = 0;
  private delayed = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly runner: IngestRunner;

  constructor(
    private readonly jobs: JobRepo,
    slides: SlideRepo,
    private readonly opts: IngestQueueOptions,
  ) {
    this.runner = new IngestRunner(jobs, slides, opts);
  }

  async enqueue(
    input: string,
    name: string,
    cleanup: string | null,
    owner: JobOwner = { userId: null, siteId: null },
  ): Promise<JobDto> {
    const { job, data } = await newIngestJob(this.jobs, input, name, cleanup, owner);
    if (owner.startAfterMs) {
      // Counted as waiting (idle() and close() wait for it) until it joins the queue.
      this.delayed++;
      setTimeout(() => {
        this.delayed--;
        this.waiting.push(data);
        this.pump();
      }, owner.startAfterMs);
    } else {
      this.waiting.push(data);
      this.pump();
    }
    return job;
  }

  async close(): Promise<void> {
    await this.idle();
  }

  /** Resolves when no job is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0 && this.delayed === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      this.running++;
      void this.runner.run(next).finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.waiting.length === 0 && this.delayed === 0)
          this.idleWaiters.splice(0).forEach((f) => f());
      });
    }
  }
}

/**
 * One ingest job from start to end: the converter in a child process, the slide registered for its
 * site and linked to its case, the staged upload removed, the job row saying how it went. With
 * `retry`, a failure that is not the file's fault (a converter killed, a store that failed) is
 * thrown for the queue to try again, the job row back to queued and the upload kept; a file that is
 * not a slide fails at once.
 */
export class IngestRunner {
  constructor(
    private readonly jobs: JobRepo,
    private readonly slides: SlideRepo,
    private readonly opts: IngestQueueOptions,
  ) {}

  async run(p: IngestJob, o: { retry?: boolean } = {}): Promise<void> {
    await this.jobs.update(p.jobId, { state: 'running', percent: 0, stage: 'starting' });
    let lastWrite = 0;
    let lastPercent = -1;
    /** This node's copy of an upload staged in the store. */
    let fetched: string | null = null;
    try {
      let input = path.resolve(this.opts.dataDir, p.input);
      if (p.upload) {
        const uploads = this.opts.uploads;
        // A node configured with another store than the one that queued the job: not the file's fault.
        if (!uploads) throw new Error(`job ${p.jobId} names an upload in a store this node does not use`);
        await this.jobs.update(p.jobId, { stage: 'fetching the upload' });
        fetched = await uploads.fetch(p.upload);
        if (!fetched)
          throw new SlideError(
            'INGEST_FAILED',
            'the upload is no longer in the store; upload the slide again',
          );
        input = path.join(fetched, p.input);
      }
      const { manifest, created } = await ingestIsolated(input, {
        dataDir: this.opts.dataDir,
        ...(this.opts.store ? { store: this.opts.store } : {}),
        tileSize: this.opts.tileSize,
        jpegQuality: this.opts.jpegQuality,
        sharpConcurrency: this.opts.sharpConcurrency,
        timeoutMs: this.opts.timeoutMs,
        name: p.name,
        // Written before the child may publish: a crash after the publication but before
        // register() below is repaired on the next start, with this job's site (server/app.ts).
        onPublish: (slideId) => this.jobs.update(p.jobId, { slideId }),
        onProgress: (percent, stage) => {
          const now = Date.now();
          if (percent === lastPercent || (now - lastWrite < 300 && percent < 100)) return;
          lastWrite = now;
          lastPercent = percent;
          void this.jobs.update(p.jobId, { percent, stage }).catch(() => {});
        },
      });
      // "Already stored" only when this site had it: that another site holds the same file is not
      // the uploader's to learn.
      const had = p.siteId === null || (await this.slides.owners(manifest.id)).includes(p.siteId);
      await this.slides.register(manifest, p.siteId, { name: p.name, uploadedBy: p.userId });
      await this.opts
        .onStored?.(manifest.id, {
          name: p.name,
          siteId: p.siteId,
          caseAccession: p.caseAccession,
          properties: manifest.properties,
        })
        .catch((e: unknown) => this.opts.log(`linking ${manifest.id} to its case failed: ${String(e)}`));
      await this.dropUpload(p);
      await this.jobs.update(p.jobId, {
        state: 'done',
        percent: 100,
        stage: created || !had ? 'stored' : 'already stored',
        slideId: manifest.id,
      });
      this.opts.log(`ingest ${p.jobId} done: ${manifest.id} ${created ? '(new)' : '(already stored)'}`);
    } catch (e) {
      if (o.retry && !isSlideError(e)) {
        this.opts.log(`ingest ${p.jobId} failed, to be tried again: ${String(e)}`);
        await this.jobs.update(p.jobId, { state: 'queued', stage: 'retrying' });
        throw e;
      }
      const error: { code: ErrorCode; message: string } = isSlideError(e)
        ? { code: e.code, message: e.message }
        : { code: 'INGEST_FAILED', message: 'ingest failed' };
      if (!isSlideError(e)) this.opts.log(`ingest ${p.jobId} failed: ${String(e)}`);
      await this.dropUpload(p);
      await this.jobs.update(p.jobId, { state: 'failed', stage: null, error });
    } finally {
      if (fetched) await rm(fetched, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** The staged upload goes before the job reports its end, so "done" means nothing is left over. */
  private async dropUpload(p: IngestJob): Promise<void> {
    if (p.cleanup)
      await rm(path.resolve(this.opts.dataDir, p.cleanup), { recursive: true, force: true }).catch(
        () => undefined,
      );
    if (p.upload)
      await this.opts.uploads
        ?.remove(p.upload)
        .catch((e: unknown) => this.opts.log(`removing staged upload ${p.upload} failed: ${String(e)}`));
  }
}
