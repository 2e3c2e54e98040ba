import { type PresentationSlide, type TileService, presentationManifest } from '../../tiles/serve/index.ts';
import { type Access, type SlideGrant, presentSlide } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import { type CasePageService, readingOrder } from '../cases/case-page.ts';
import { HttpError } from '../http/errors.ts';

/** A manifest and the slides it shows, each with the site it is seen through (for the audit). */
export interface ManifestAnswer {
  manifest: Record<string, unknown>;
  shown: { slideId: string; siteId: string | null }[];
}

interface Seen {
  id: string;
  name: string;
  slide: PresentationSlide;
  grant: SlideGrant;
}

/**
 * IIIF Presentation 3 manifests of a slide and of a case, for IIIF viewers. The slide routes' access
 * rules: a slide the user may not see is not there; a case they may not see (the case page's rule)
 * answers as one that does not exist. Through a de-identified share a slide is called by its study
 * code, as everywhere else, and a case holding such a slide is never called by its accession.
 */
export class IiifManifests {
  constructor(
    private readonly d: {
      access: Access;
      tiles: Pick<TileService, 'manifest' | 'limits'>;
      cases: Pick<CasePageService, 'visible'>;
    },
  ) {}

  /** A slide as `p` may see it, or null (not visible, or not in the store). */
  private async seen(p: Principal, id: string, base: string): Promise<Seen | null> {
    const found = await this.d.access.slide(p, id);
    if (!found) return null;
    const stored = await this.d.tiles.manifest(id);
    if (!stored) return null;
    // The same presentation as GET /api/slides/{id}: the site's name for it, or the study code.
    const dto = presentSlide(found.row, found.grant);
    return {
      id,
      name: dto.name,
      grant: found.grant,
      slide: {
        service: `${base}/iiif/3/${id}`,
        label: dto.name,
        shape: stored,
        mppX: dto.mppX,
        mppY: dto.mppY,
        objectivePower: dto.objectivePower,
      },
    };
  }

  /** `{base}/iiif/3/{id}/manifest.json`: null when `p` may not see the slide. */
  async slide(p: Principal, id: string, base: string): Promise<ManifestAnswer | null> {
    const s = await this.seen(p, id, base);
    if (!s) return null;
    return {
      manifest: presentationManifest({
        id: `${base}/iiif/3/${id}/manifest.json`,
        label: s.name,
        slides: [s.slide],
        limits: this.d.tiles.limits,
      }),
      shown: [{ slideId: id, siteId: s.grant.siteId }],
    };
  }

  /**
   * `{base}/iiif/3/cases/{caseId}/manifest.json`: the case's slides that `p` may see, in reading
   * order. 404 for a case `p` may not see, and for one with no slide to show.
   */
  async case(p: Principal, caseId: string, base: string): Promise<ManifestAnswer> {
    const c = await this.d.cases.visible(p, caseId);
    const seen: Seen[] = [];
    for (const id of c.slideIds) {
      const s = await this.seen(p, id, base);
      if (s) seen.push(s);
    }
    if (seen.length === 0) throw new HttpError('NOT_FOUND', 'no slide of this case to show');
    const ordered = readingOrder(seen);
    const codes = new Set(ordered.filter((s) => s.grant.deidentified).map((s) => s.name));
    const deidentified = ordered.some((s) => s.grant.deidentified);
    const label = !deidentified ? c.accession : codes.size === 1 ? [...codes][0]! : 'Shared slides';
    return {
      manifest: presentationManifest({
        id: `${base}/iiif/3/cases/${caseId}/manifest.json`,
        label,
        slides: ordered.map((s) => s.slide),
        limits: this.d.tiles.limits,
      }),
      shown: ordered.map((s) => ({ slideId: s.id, siteId: s.grant.siteId })),
    };
  }
}
