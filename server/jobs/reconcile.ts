import type { Manifest } from '../../protocol/index.ts';
import type { SlideStore } from '../../tiles/index.ts';
import type { JobRepo } from '../db/jobs.ts';
import type { SlideRepo } from '../db/slides.ts';
import type { JobsTable } from '../db/schema.ts';

export interface Reconciled {
  /** Jobs a crash stopped after their slide was published: finished now. */
  finished: number;
  /** Published slides without a row that their jobs explained: registered to the jobs' sites. */
  adopted: number;
  /** Published slides no job explains: indexed without a site (administrators see them). */
  unowned: number;
}

/**
 * Start-up repair of what a crash left between the store and the database, before interrupted jobs
 * are failed. An ingest names its slide on its job before the slide may be published (IngestQueue
 * and `tessera ingest` answer the converter's question only after writing it), and the converter
 * dies with its parent, so a published slide without a row is always explained by its job: it gets
 * that job's site and uploader, and the job is done. A slide no job explains did not come through
 * either (the library's ingest() or a store copied in): it is indexed without a site, which only
 * administrators see, as before.
 */
export async function reconcileStore(
  store: SlideStore,
  slides: SlideRepo,
  jobs: JobRepo,
  log: (msg: string) => void,
): Promise<Reconciled> {
  const out: Reconciled = { finished: 0, adopted: 0, unowned: 0 };
  const claim = async (m: Manifest, j: JobsTable): Promise<void> => {
    await slides.register(m, j.site_id, { name: j.name, uploadedBy: j.created_by });
    if (j.state === 'done') return;
    await jobs.update(j.id, { state: 'done', percent: 100, stage: 'stored', slideId: m.id, error: null });
    out.finished++;
  };
  for (const j of await jobs.publishing()) {
    const m = await store.manifest(j.slide_id!);
    if (m) await claim(m, j);
  }
  const known = await slides.ids();
  for (const m of await store.list()) {
    if (known.has(m.id)) continue;
    const claims = await jobs.publishing(m.id);
    if (claims.length === 0) {
      await slides.register(m);
      out.unowned++;
      log(`slide ${m.id} is in the store but no ingest job explains it: indexed without a site`);
      continue;
    }
    for (const j of claims) await claim(m, j);
    out.adopted++;
  }
  return out;
}
