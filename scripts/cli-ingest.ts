import type { Manifest } from '../protocol/index.ts';
import { type Config, storeSpec } from '../server/config.ts';
import type { JobRepo } from '../server/db/jobs.ts';
import type { SlideRepo } from '../server/db/slides.ts';
import { ingestIsolated, isSlideError } from '../tiles/index.ts';

/**
 * Ingest one slide from the command line under a job row like an upload's: if this process dies
 * between publishing and registering, the server's next start gives the slide this job's site
 * (server/jobs/reconcile.ts). On failure the job is failed and the error thrown again, with
 * `reason` the one line to print.
 */
export async function ingestWithJob(
  config: Config,
  repos: { slides: SlideRepo; jobs: JobRepo },
  input: string,
  o: { name: string; site: string | null; onProgress?: (percent: number, stage: string) => void },
): Promise<{ manifest: Manifest; created: boolean }> {
  const { randomUUID } = await import('node:crypto');
  const { jobs } = repos;
  const jobId = randomUUID();
  await jobs.create(jobId, 'ingest', o.name, { userId: null, siteId: o.site });
  await jobs.update(jobId, { state: 'running' });
  try {
    const { manifest, created } = await ingestIsolated(input, {
      dataDir: config.dataDir,
      store: storeSpec(config),
      tileSize: config.tileSize,
      jpegQuality: config.jpegQuality,
      sharpConcurrency: config.sharpConcurrency,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      onPublish: (slideId) => jobs.update(jobId, { slideId }),
    });
    await repos.slides.register(manifest, o.site, { name: created ? manifest.name : o.name });
    await jobs.update(jobId, { state: 'done', percent: 100, stage: 'stored', slideId: manifest.id });
    return { manifest, created };
  } catch (e) {
    await jobs
      .update(jobId, {
        state: 'failed',
        error: { code: isSlideError(e) ? e.code : 'INGEST_FAILED', message: failureReason(e) },
      })
      .catch(() => undefined);
    throw e;
  }
}

/** One line saying why an ingest failed. */
export function failureReason(e: unknown): string {
  if (isSlideError(e)) return e.message;
  if (e instanceof Error) return e.message.split('\n')[0] || 'failed';
  return String(e);
}
