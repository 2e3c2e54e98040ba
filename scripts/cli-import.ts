import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ingestSummary } from '../protocol/index.ts';
import type { Config } from '../server/config.ts';
import { DicomwebArchive } from '../server/dicom-in/archive.ts';
import { ProgressLine } from './progress.ts';

export interface ImportArgs {
  url: string;
  study: string;
  series?: string | undefined;
  bearer?: string | undefined;
  basic?: { user: string; password: string } | undefined;
  site: string | null;
  json: boolean;
}

/**
 * `tessera import --dicomweb URL --study UID [--series UID]`: the study's slide series (QIDO-RS),
 * each retrieved (WADO-RS, streamed into the data folder's tmp/, within TESSERA_MAX_UPLOAD_BYTES)
 * and ingested as `tessera ingest` does. One line per slide; exit 0 when every series was stored.
 * Archive errors (unknown study, archive down, series too large) throw an HttpError: one line,
 * exit 1.
 */
export async function cmdImportDicomweb(config: Config, a: ImportArgs): Promise<number> {
  const archive = new DicomwebArchive(a.url, { credentials: { bearer: a.bearer, basic: a.basic } });
  const series = await archive.slideSeries(a.study, a.series);
  const { openDb } = await import('../server/db/index.ts');
  const { SlideRepo } = await import('../server/db/slides.ts');
  const { JobRepo } = await import('../server/db/jobs.ts');
  const { ingestWithJob, failureReason } = await import('./cli-ingest.ts');
  const db = await openDb({ databaseUrl: config.databaseUrl, sqliteFile: config.dbFile });
  const repos = { slides: new SlideRepo(db), jobs: new JobRepo(db) };
  let failed = 0;
  try {
    if (a.site !== null) {
      const { siteName } = await import('../server/auth/users.ts');
      if ((await siteName(db, a.site)) === null) {
        console.error(`error: no site ${a.site} (tessera site list shows them; site add makes one)`);
        return 2;
      }
    }
    for (const [i, s] of series.entries()) {
      const name = s.description?.trim() || `series …${s.seriesUid.slice(-12)}`;
      const label = series.length > 1 ? `[${i + 1}/${series.length}] ${name}` : name;
      const bar = new ProgressLine(label);
      const dir = path.join(config.dataDir, 'tmp', `dicomweb-${randomUUID()}`);
      try {
        const got = await archive.retrieveSeries(s, dir, { maxBytes: config.maxUploadBytes }, (n, bytes) =>
          bar.update(
            s.instances ? Math.round((100 * n) / s.instances) : 0,
            `retrieving ${(bytes / 1e6).toFixed(1)} MB`,
          ),
        );
        const { manifest, created } = await ingestWithJob(config, repos, dir, {
          name,
          site: a.site,
          onProgress: (percent, stage) => bar.update(percent, stage),
        });
        bar.stop();
        if (a.json)
          process.stdout.write(`${JSON.stringify({ ...ingestSummary(manifest), seriesUid: s.seriesUid })}\n`);
        else
          console.log(
            `${created ? 'stored' : 'already stored'}: series ${s.seriesUid} (${got.instances.length} instances, ${(got.bytes / 1e6).toFixed(1)} MB) -> ${manifest.id} (${manifest.width}x${manifest.height}, ${manifest.levels} level${manifest.levels === 1 ? '' : 's'})`,
          );
      } catch (e) {
        bar.stop();
        failed++;
        console.error(`error: series ${s.seriesUid}: ${failureReason(e)}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await db.destroy();
  }
  return failed === 0 ? 0 : 1;
}
