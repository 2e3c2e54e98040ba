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
    const { job, data } = await newIngestJob(this.jobs, input, name, cleanup, owner);
    const jobId = data.jobId;
    try {
      await this.queue.add('ingest', data, { jobId });
    } catch (e) {
      await this.jobs.update(jobId, {
        state: 'failed',
        stage: null,
        error: { code: 'INGEST_FAILED', message: 'the job queue (Redis) could not be reached' },
      });
      throw e;
    }
    return job;
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
