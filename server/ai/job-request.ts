import { AI_CONTRACT_VERSION, type AiJobRequest } from '../../protocol/index.ts';
import type { Principal } from '../auth/auth.ts';
import type { Access } from '../auth/access.ts';
import { DicomSlides } from '../dicomweb/slides.ts';
import type { Algorithm } from './registry.ts';
import type { Db } from '../db/index.ts';

/** Where an algorithm posts a job's results (the contract's base URL for it). */
export function resultsPath(slideId: string, jobId: string): string {
  return `/api/ai/v${AI_CONTRACT_VERSION}/slides/${slideId}/jobs/${jobId}`;
}

/**
 * What an algorithm is sent for a job: the slide as its token sees it (a study code for the name,
 * no accession, when it may not see identified data), and the URLs it reads the slide through and
 * posts its results to. `p` is the token's principal, so every URL answers it.
 */
export async function jobRequest(
  deps: { db: Db; access: Access },
  r: {
    base: string;
    algorithm: Algorithm;
    jobId: string;
    slideId: string;
    siteId: string | null;
    token: string;
    principal: Principal;
    deadline: string;
  },
): Promise<AiJobRequest> {
  const found = await deps.access.slide(r.principal, r.slideId);
  if (!found) throw new Error(`slide ${r.slideId} is gone`);
  const { row, grant } = found;
  const own = r.siteId
    ? await deps.db
        .selectFrom('slide_sites')
        .select(['name', 'stain'])
        .where('slide_id', '=', r.slideId)
        .where('site_id', '=', r.siteId)
        .executeTakeFirst()
    : undefined;
  let accession: string | null = null;
  if (!grant.deidentified) {
    let q = deps.db
      .selectFrom('case_slides')
      .innerJoin('cases', 'cases.id', 'case_slides.case_id')
      .select('cases.accession')
      .where('case_slides.slide_id', '=', r.slideId);
    if (r.siteId) q = q.where('cases.site_id', '=', r.siteId);
    accession = (await q.orderBy('cases.received_at', 'desc').executeTakeFirst())?.accession ?? null;
  }
  const base = r.base.replace(/\/+$/, '');
  let dicomweb: AiJobRequest['urls']['dicomweb'] = null;
  try {
    const [d] = await new DicomSlides(deps.db, deps.access).resolve(r.principal, [r.slideId]);
    if (d) {
      const study = `${base}/dicomweb/studies/${d.identity.uid('study')}`;
      dicomweb = { root: `${base}/dicomweb`, study, series: `${study}/series/${d.identity.uid('series')}` };
    }
  } catch {
    // Without DICOMweb the other URLs still read the slide.
  }
  return {
    contract: AI_CONTRACT_VERSION,
    job: {
      id: r.jobId,
      deadline: r.deadline,
      algorithm: { id: r.algorithm.id, name: r.algorithm.name, version: r.algorithm.version },
    },
    token: r.token,
    slide: {
      id: row.id,
      name: grant.deidentified ? (grant.studyCode ?? row.id) : (own?.name ?? row.name),
      deidentified: grant.deidentified,
      studyCode: grant.deidentified ? grant.studyCode : null,
      accession,
      width: row.width,
      height: row.height,
      tileSize: row.tile_size,
      levels: row.levels,
      mppX: row.mpp_x,
      mppY: row.mpp_y,
      objectivePower: row.objective_power,
      sourceFormat: row.source_format,
      stain: own?.stain ?? row.stain,
    },
    urls: {
      slide: `${base}/api/slides/${row.id}`,
      thumbnail: `${base}/api/slides/${row.id}/thumbnail`,
      dzi: `${base}/slides/${row.id}.dzi`,
      iiif: `${base}/iiif/3/${row.id}`,
      iiifManifest: `${base}/iiif/3/${row.id}/manifest.json`,
      dicomweb,
      results: `${base}${resultsPath(row.id, r.jobId)}`,
    },
  };
}
