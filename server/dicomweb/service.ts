import type { Manifest } from '../../protocol/index.ts';
import {
  type SeriesIdentity,
  type SeriesInstance,
  seriesIdentity,
  seriesInstances,
} from '../../tiles/export/dicom-attributes.ts';
import { type DicomJson, dicomTag } from '../../tiles/export/dicom-json.ts';
import { slideIdOfUid } from '../../tiles/export/uids.ts';
import type { RenderRequest, TileResult, TileService } from '../../tiles/serve/index.ts';
import type { Access, SlideGrant } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import type { Db } from '../db/index.ts';
import { dicomOptions } from '../export/dicom.ts';
import { HttpError } from '../http/errors.ts';
import {
  INSTANCE_KEYS,
  SERIES_KEYS,
  STUDY_KEYS,
  instanceData,
  seriesDataset,
  studyDataset,
} from './datasets.ts';
import { type QidoFilter, type QidoQuery, filterValues, matchesAll, pick } from './query.ts';
import { renderImage } from './render.ts';
import { type DicomSlide, DicomSlides } from './slides.ts';

export type QidoLevel = 'study' | 'series' | 'instance';

/** The UIDs a request path names: a study, a series in it, an instance in that. */
export interface DicomPath {
  study?: string;
  series?: string;
  instance?: string;
}

/** A slide a request reached, for the audit trail. */
export interface Reached {
  slideId: string;
  siteId: string | null;
}

/** Where a UID leads for frames and renders: the slide and grant, without its case. */
interface Located extends Reached {
  grant: SlideGrant;
  identity: SeriesIdentity;
  deidentified: boolean;
}

const UID = /^[0-9]+(\.[0-9]+)*$/;
/** Frames one request may list. */
export const MAX_FRAMES_PER_REQUEST = 1000;
/** How long where a UID leads is kept for one user (rights notices clear it at once). */
const LOCATE_MS = 5_000;
/**
 * Slides one search looks at, at most (~45 µs each): a search the database cannot narrow (no UID,
 * accession, patient or date key) walks the library newest first and stops here, saying so.
 */
export const MAX_SLIDES_EXAMINED = 50_000;

const notFound = (what: string): HttpError => new HttpError('NOT_FOUND', `no ${what}`);

function checkUid(uid: string | undefined, what: string): void {
  if (uid !== undefined && (uid.length > 64 || !UID.test(uid)))
    throw notFound(`${what} ${JSON.stringify(uid.slice(0, 64))}`);
}

/**
 * The DICOMweb server (read), without HTTP: QIDO-RS searches, WADO-RS metadata, frames and rendered
 * images of the slides a user may see, each slide one study of one series whose instances are the
 * DICOM export's (tiles/export/dicom-attributes.ts): same attributes, same UIDs, the same frames
 * taken straight from the store through the tile service.
 */
export class DicomWeb {
  readonly slides: DicomSlides;
  private readonly located = new Map<string, { at: Located | null; until: number }>();

  private readonly maxExamined: number;

  constructor(
    private readonly deps: { db: Db; access: Access; tiles: TileService },
    rights?: { on(fn: () => void): unknown },
    opts: { maxExamined?: number } = {},
  ) {
    this.maxExamined = opts.maxExamined ?? MAX_SLIDES_EXAMINED;
    this.slides = new DicomSlides(deps.db, deps.access);
    rights?.on(() => this.located.clear());
  }

  /**
   * QIDO-RS: the studies, series or instances `p` may see that match `q` under `path` (a study,
   * or a study and series), newest first, `q.offset` skipped, at most `q.limit`; `more` when
   * further results exist. Slides are found through the UIDs, accession or study date asked for
   * when there are any, else by walking the library.
   */
  async search(
    p: Principal,
    level: QidoLevel,
    path: DicomPath,
    q: QidoQuery,
    base: string,
  ): Promise<{ results: DicomJson[]; more: boolean; cut: boolean; reached: Reached[] }> {
    checkUid(path.study, 'study');
    checkUid(path.series, 'series');
    const scope: QidoFilter[] = [];
    if (path.study) scope.push({ tag: dicomTag('StudyInstanceUID')!, value: path.study });
    if (path.series) scope.push({ tag: dicomTag('SeriesInstanceUID')!, value: path.series });
    const filters = [...scope, ...q.filters];
    const seriesTags = new Set(SERIES_KEYS);
    const slideFilters = filters.filter((f) => seriesTags.has(f.tag.tag));
    const need = q.offset + q.limit + 1;
    const found: DicomJson[] = [];
    const reached: Reached[] = [];
    let examined = 0;
    let cut = false;
    for await (const all of this.candidates(p, path, q)) {
      const ids = all.slice(0, this.maxExamined - examined);
      examined += ids.length;
      cut = ids.length < all.length;
      for (const s of await this.slides.resolve(p, ids)) {
        const series = seriesDataset(s, base);
        // Study and series attributes decide most searches before any instance is built.
        if (!matchesAll(series, slideFilters)) continue;
        let rows: DicomJson[];
        if (level === 'study') rows = [studyDataset(s, base)];
        else if (level === 'series') rows = [series];
        else rows = (await instanceData(s, this.deps.tiles, base)).map((d) => d.qido);
        let hit = false;
        for (const row of rows) {
          if (found.length >= need || !matchesAll(row, filters)) continue;
          found.push(row);
          hit = true;
        }
        if (hit) reached.push({ slideId: s.id, siteId: s.grant.siteId });
        if (found.length >= need) break;
      }
      if (found.length >= need) {
        cut = false;
        break;
      }
      if (examined >= this.maxExamined) {
        cut = true;
        break;
      }
    }
    const keys = level === 'study' ? STUDY_KEYS : level === 'series' ? SERIES_KEYS : INSTANCE_KEYS;
    return {
      results: found.slice(q.offset, q.offset + q.limit).map((r) => pick(r, keys, q)),
      more: found.length > q.offset + q.limit,
      cut,
      reached,
    };
  }

  /** Slide ids that may hold the answer, a batch at a time, from the most selective key given. */
  private async *candidates(p: Principal, path: DicomPath, q: QidoQuery): AsyncGenerator<string[]> {
    const uids = (keyword: string, fromPath?: string): string[] =>
      fromPath ? [fromPath] : filterValues(q, keyword).flatMap((v) => v.split(/[\\,]/).map((u) => u.trim()));
    const study = uids('StudyInstanceUID', path.study);
    if (study.length) return yield await this.slides.idsOfUids(p, study, ['study']);
    const series = uids('SeriesInstanceUID', path.series);
    if (series.length) return yield await this.slides.idsOfUids(p, series, ['series']);
    const sop = uids('SOPInstanceUID');
    if (sop.length) return yield await this.slides.idsOfUids(p, sop, DicomSlides.instanceRoles());
    // Tessera holds no patient names: only a de-identified share's study code can match one.
    if (filterValues(q, 'PatientName').some((v) => v.replace(/\*/g, '') !== ''))
      return yield await this.slides.deidentifiedShares(p);
    // The case's accession is the Patient ID, Accession Number and Study ID of an identified slide.
    const keys = ['AccessionNumber', 'PatientID', 'StudyID']
      .flatMap((k) => filterValues(q, k))
      .flatMap((v) => v.split('\\'))
      .filter((v) => v.replace(/\*/g, '') !== '');
    if (keys.length)
      return yield [
        ...(await this.slides.idsOfAccessions(keys.filter((v) => !/[*?]/.test(v)))),
        ...(await this.slides.idsOfAccessionPatterns(keys.filter((v) => /[*?]/.test(v)))),
        ...(await this.slides.deidentifiedShares(p)),
      ];
    const date = filterValues(q, 'StudyDate')[0];
    const range = date ? dateBounds(date) : null;
    if (range) return yield await this.slides.idsReceivedBetween(range.from, range.before);
    yield* this.slides.all(p);
  }

  /**
   * WADO-RS metadata of a study, a series or an instance: each instance's attributes as DICOM JSON,
   * no pixel data. 404 for a UID `p` does not see.
   */
  async metadata(
    p: Principal,
    path: DicomPath,
    base: string,
  ): Promise<{ datasets: DicomJson[]; reached: Reached }> {
    const s = await this.study(p, path);
    const only = path.instance
      ? new Set([this.instanceOf(s.identity, s.instances, path.instance).role])
      : undefined;
    const data = await instanceData(s, this.deps.tiles, base, only);
    if (path.instance && data.length === 0) throw notFound(`instance ${path.instance}`);
    return { datasets: data.map((d) => d.metadata), reached: { slideId: s.id, siteId: s.grant.siteId } };
  }

  /**
   * WADO-RS retrieve: the slide and the roles of the instances a study, series or instance path
   * names (all for a study or series), to be written as Part 10 files by the export.
   */
  async retrieve(
    p: Principal,
    path: DicomPath,
  ): Promise<{ slide: DicomSlide; only?: Set<string>; reached: Reached }> {
    const slide = await this.study(p, path);
    const only = path.instance
      ? new Set([this.instanceOf(slide.identity, slide.instances, path.instance).role])
      : undefined;
    return { slide, only, reached: { slideId: slide.id, siteId: slide.grant.siteId } };
  }

  /** The slide that is study `path.study` for `p` (and holds `path.series`); 404 otherwise. */
  private async study(p: Principal, path: DicomPath): Promise<DicomSlide> {
    checkUid(path.study, 'study');
    checkUid(path.series, 'series');
    checkUid(path.instance, 'instance');
    const s = path.study ? await this.slides.byStudy(p, path.study) : null;
    if (!s) throw new HttpError('NOT_FOUND', `no study ${path.study ?? ''}`);
    if (path.series !== undefined && s.identity.uid('series') !== path.series)
      throw notFound(`series ${path.series} in study ${path.study}`);
    return s;
  }

  private instanceOf(
    identity: SeriesIdentity,
    instances: readonly SeriesInstance[],
    uid: string,
  ): SeriesInstance {
    const inst = instances.find((i) => identity.uid(`instance:${i.role}`) === uid);
    if (!inst) throw notFound(`instance ${uid}`);
    return inst;
  }

  /**
   * Where a study UID leads for `p`, cached for a few seconds: an identified UID decodes to its slide
   * and the (cached) grant confirms it; a de-identified one is looked for among `p`'s shares.
   */
  private async locate(p: Principal, study: string): Promise<Located | null> {
    const key = `${p.user.id}|${study}`;
    const hit = this.located.get(key);
    if (hit && hit.until > Date.now()) return hit.at;
    let at: Located | null = null;
    const id = slideIdOfUid(study, 'study');
    const grant = id ? await this.deps.access.grant(p, id) : null;
    if (id && grant && !grant.deidentified) at = located(id, grant);
    else {
      const s = await this.slides.byStudy(p, study);
      if (s) at = located(s.id, s.grant);
    }
    if (this.located.size > 10_000) this.located.clear();
    this.located.set(key, { at, until: Date.now() + LOCATE_MS });
    return at;
  }

  /** The slide, manifest and instance a frame or render path names; 404 for anything `p` does not see. */
  private async target(
    p: Principal,
    path: DicomPath,
  ): Promise<{ at: Located; manifest: Manifest; instance: SeriesInstance | null }> {
    checkUid(path.study, 'study');
    checkUid(path.series, 'series');
    checkUid(path.instance, 'instance');
    const at = path.study ? await this.locate(p, path.study) : null;
    if (!at) throw new HttpError('NOT_FOUND', `no study ${path.study ?? ''}`);
    if (path.series !== undefined && at.identity.uid('series') !== path.series)
      throw notFound(`series ${path.series} in study ${path.study}`);
    const manifest = await this.deps.tiles.manifest(at.slideId);
    if (!manifest) throw new HttpError('NOT_FOUND', `no study ${path.study}`);
    const instance = path.instance
      ? this.instanceOf(at.identity, seriesInstances(manifest, at.deidentified), path.instance)
      : null;
    return { at, manifest, instance };
  }

  /**
   * WADO-RS frames: the frame numbers of `list` (1-based, as `1,2,3`) checked against the
   * instance, and a reader of each frame: the stored tile as stored (a level's frames are its tiles
   * row by row) or the stored label / overview JPEG. 404 FRAME_NOT_FOUND beyond the last frame.
   */
  async frames(
    p: Principal,
    path: DicomPath,
    list: string,
  ): Promise<{ numbers: number[]; frame(n: number): Promise<Buffer>; reached: Reached }> {
    if (!/^[0-9]{1,9}(,[0-9]{1,9})*$/.test(list))
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected frame numbers from 1 separated by commas but received ${JSON.stringify(list.slice(0, 64))}`,
      );
    const numbers = list.split(',').map(Number);
    if (numbers.length > MAX_FRAMES_PER_REQUEST)
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected at most ${MAX_FRAMES_PER_REQUEST} frames in one request but received ${numbers.length}`,
      );
    const { at, manifest, instance } = await this.target(p, path);
    const inst = instance!;
    const level = inst.kind === 'VOLUME' ? manifest.levelInfo[inst.level!] : undefined;
    const count = level ? level.tilesX * level.tilesY : 1;
    const bad = numbers.find((n) => n < 1 || n > count);
    if (bad !== undefined)
      throw new HttpError(
        'FRAME_NOT_FOUND',
        `instance ${path.instance} has frames 1 to ${count}, not ${bad}`,
      );
    const tiles = this.deps.tiles;
    const frame = async (n: number): Promise<Buffer> => {
      const r: TileResult | null = level
        ? await tiles.storedTile(
            at.slideId,
            inst.level!,
            (n - 1) % level.tilesX,
            Math.floor((n - 1) / level.tilesX),
          )
        : await tiles.associated(at.slideId, inst.associated!);
      if (!r)
        throw new HttpError('NOT_FOUND', `frame ${n} of instance ${path.instance} is missing from the store`);
      return r.body;
    };
    return { numbers, frame, reached: at };
  }

  /**
   * WADO-RS rendered and thumbnail of a study, series or instance (see renderImage); 404 for a
   * path `p` does not see.
   */
  async render(
    p: Principal,
    path: DicomPath,
    kind: 'rendered' | 'thumbnail',
    viewport: string | undefined,
    format: 'jpg' | 'png',
    who: RenderRequest,
  ): Promise<{ image: TileResult; reached: Reached }> {
    const { at, manifest, instance } = await this.target(p, path);
    const image = await renderImage(
      this.deps.tiles,
      at.slideId,
      manifest,
      instance,
      kind,
      viewport,
      format,
      who,
    );
    if (!image)
      throw notFound(`image of ${path.instance ? `instance ${path.instance}` : `study ${path.study}`}`);
    return { image, reached: at };
  }
}

function located(slideId: string, grant: SlideGrant): Located {
  const options = dicomOptions({ patientName: '', patientId: '', containerId: '' }, grant);
  return {
    slideId,
    siteId: grant.siteId,
    grant,
    identity: seriesIdentity(slideId, options),
    deidentified: grant.deidentified,
  };
}

/** ISO bounds around a DICOM date or date range, a day wider each way (time zones); null if malformed. */
function dateBounds(v: string): { from?: string; before?: string } | null {
  const [lo, hi] = v.includes('-') ? v.split('-', 2) : [v, v];
  const iso = (d: string | undefined, shiftDays: number): string | undefined => {
    if (!d) return undefined;
    if (!/^\d{8}$/.test(d)) return undefined;
    const t = Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T00:00:00Z`);
    if (Number.isNaN(t)) return undefined;
    return new Date(t + shiftDays * 86_400_000).toISOString().slice(0, 10);
  };
  if ((lo && !/^\d{8}$/.test(lo)) || (hi && !/^\d{8}$/.test(hi))) return null;
  return { from: iso(lo, -1), before: iso(hi, 2) };
}
