import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { JobDto } from '../../protocol/index.ts';
import type { JobRepo } from '../db/jobs.ts';
import type { SlideRepo } from '../db/slides.ts';
import {
  IngestRunner,
  newIngestJob,
  type IngestJob,
  type IngestQueueOptions,
  type JobOwner,
  type JobQueue,
} from './ingest-queue.ts';

/** The BullMQ queue of ingest jobs (under the deployment's key prefix). */
export const INGEST_QUEUE = 'ingest';

export interface RedisQueueOptions extends IngestQueueOptions {
  redisUrl: string;
  /** Key prefix: the deployments sharing one Redis keep apart. */
  prefix: string;
  /** Take jobs in this process (a server that also ingests, or `tessera worker`), or only add them. */
  work: boolean;
  /** A job held by a worker that stops answering this long is taken up by another (ms). */
  lockMs: number;
  /** Tries per job when the failure is not the file's (a converter killed, a store that failed). */
  attempts: number;
}

/** ioredis connection options from a redis:// or rediss:// URL. */
export function redisConnection(url: string): ConnectionOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new Error(`TESSERA_REDIS_URL must be redis:// or rediss://, not ${u.protocol}`);
  const db = Number(u.pathname.replace(/^\//, '') || 0);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username && { username: decodeURIComponent(u.username) }),
    ...(u.password && { password: decodeURIComponent(u.password) }),
    ...(Number.isInteger(db) && db > 0 && { db }),
    ...(u.protocol === 'rediss:' && { tls: {} }),
    // BullMQ's workers block on Redis: no per-command retry limit.
    maxRetriesPerRequest: null,
  };
}

/**
 * Ingest jobs on Redis (BullMQ), shared by every node: any server adds them, any worker takes them
 * (`tessera worker`, or servers that also ingest). A worker that dies mid-job leaves its job locked
 * until the lock lapses (`lockMs`); another worker then takes it up again and it finishes. A slide
 * is published only whole (the store's staging), so a job run twice stores it once. The job rows in
 * the database stay the record users read (GET /api/jobs/{id}).
 */
export class RedisIngestQueue implements JobQueue {
  private readonly queue: Queue<IngestJob>;
  private readonly worker: Worker<IngestJob> | null = null;
  private running = 0;

  constructor(
    private readonly jobs: JobRepo,
    slides: SlideRepo,
    private readonly opts: RedisQueueOptions,
  ) {
    const connection = redisConnection(opts.redisUrl);
    this.queue = new Queue<IngestJob>(INGEST_QUEUE, {
      connection,
      prefix: opts.prefix,
      defaultJobOptions: {
        attempts: opts.attempts,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { count: 1000 },
        removeOnFail: { count: 5000 },
      },
    });
    this.queue.on('error', (e) => opts.log(`ingest queue (redis): ${e.message}`));
    if (!opts.work) return;
    const runner = new IngestRunner(jobs, slides, opts);
    this.worker = new Worker<IngestJob>(
      INGEST_QUEUE,
      async (job) => {
        this.running++;
        try {
          await runner.run(job.data, { retry: job.attemptsMade + 1 < (job.opts.attempts ?? 1) });
        } finally {
          this.running--;
        }
      },
      {
        connection,
        prefix: opts.prefix,
        concurrency: opts.concurrency,
        lockDuration: opts.lockMs,
        stalledInterval: Math.max(1000, Math.round(opts.lockMs / 2)),
        maxStalledCount: 3,
      },
    );
    this.worker.on('error', (e) => opts.log(`ingest worker (redis): ${e.message}`));
  }

  async enqueue(
    input: string,
    name: string,
    cleanup: string | null,
    owner: JobOwner = { userId: null, siteId: null },
  ): Promise<JobDto> {
    let shared: Shared;
    try {
      shared = await this.share(input, cleanup);
    } catch (e) {
      if (cleanup) await rm(cleanup, { recursive: true, force: true }).catch(() => undefined);
      throw e;
    }
    const { job, data } = await newIngestJob(
      this.jobs,
      shared.input,
      name,
      shared.cleanup,
      owner,
      shared.upload,
    );
    const jobId = data.jobId;
    try {
      await this.queue.add('ingest', data, { jobId });
    } catch (e) {
      await this.jobs.update(jobId, {
        state: 'failed',
        stage: null,
        error: { code: 'INGEST_FAILED', message: 'the job queue (Redis) could not be reached' },
      });
      if (shared.upload) await this.opts.uploads?.remove(shared.upload).catch(() => undefined);
      if (cleanup) await rm(cleanup, { recursive: true, force: true }).catch(() => undefined);
      throw e;
    }
    return job;
  }

  /**
   * What a worker on another machine can reach of an upload received here. With an object store
   * the upload is copied into the store's upload area and this node's copy goes: the worker fetches
   * it from the store. With a data folder every node mounts (the local store), paths are named from
   * that folder, which another machine may mount elsewhere.
   */
  private async share(input: string, cleanup: string | null): Promise<Shared> {
    const uploads = this.opts.uploads;
    if (uploads && cleanup && inside(cleanup, input)) {
      const key = randomUUID();
      try {
        await uploads.put(key, cleanup);
      } catch (e) {
        await uploads.remove(key).catch(() => undefined);
        throw e;
      }
      await rm(cleanup, { recursive: true, force: true });
      return { input: path.relative(cleanup, input), cleanup: null, upload: key };
    }
    const fromData = (p: string): string =>
      inside(this.opts.dataDir, p) ? path.relative(path.resolve(this.opts.dataDir), path.resolve(p)) : p;
    return { input: fromData(input), cleanup: cleanup && fromData(cleanup), upload: null };
  }

  /** Resolves when no job waits, runs or waits to be retried in the queue, nor runs here. */
  async idle(): Promise<void> {
    for (;;) {
      const c = await this.queue.getJobCounts(
        'waiting',
        'active',
        'delayed',
        'prioritized',
        'waiting-children',
      );
      if (Object.values(c).every((n) => n === 0) && this.running === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stop taking jobs (those running here finish first), then let go of Redis. */
  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}

interface Shared {
  input: string;
  cleanup: string | null;
  upload: string | null;
}

/** Whether `p` is `dir` or lies under it. */
function inside(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
