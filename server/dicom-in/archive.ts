/**
 * A DICOMweb client for pulling slides out of an archive (PACS, VNA): QIDO-RS to find a study's
 * slide series, WADO-RS to retrieve a series' instances, streamed to files one part at a time.
 * Never follows a redirect (the address asked for is the only one reached) and bounds what it
 * reads: bytes, instances, JSON answers, and how long the archive may stay silent.
 */
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { DICOM_UID, type DicomInstanceHeader, isSlideError, readDicomHeader } from '../../tiles/index.ts';
import { HttpError } from '../http/errors.ts';
import { MultipartError, parseRelatedType, readMultipart } from './multipart.ts';

/** A slide series holds a few dozen instances at most (levels, label, overview, focal planes). */
export const MAX_SERIES_INSTANCES = 64;
/** A QIDO answer longer than this is not a study's series list. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;

export interface ArchiveCredentials {
  bearer?: string | undefined;
  basic?: { user: string; password: string } | null | undefined;
}

export interface ArchiveOptions {
  credentials?: ArchiveCredentials;
  /** How long the archive may send nothing, ms (connecting, between chunks). */
  idleTimeoutMs?: number;
}

/** A VL Whole Slide Microscopy series found by QIDO-RS. */
export interface SlideSeries {
  studyUid: string;
  seriesUid: string;
  modality: string;
  description: string | null;
  /** Number of Series Related Instances, when the archive says. */
  instances: number | null;
}

export interface RetrieveLimits {
  /** Bytes of the whole series. */
  maxBytes: number;
  maxInstances?: number;
}

export interface RetrievedSeries {
  dir: string;
  instances: DicomInstanceHeader[];
  bytes: number;
  /** Parts that were not a slide's instance of this series (other SOP classes, other series). */
  skipped: string[];
}

type Json = Record<string, { Value?: unknown[] } | undefined>;

const str = (ds: Json, tag: string): string | null => {
  const v = ds[tag]?.Value?.[0];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null;
};

export function checkUid(what: string, uid: string): string {
  if (!DICOM_UID.test(uid))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected a DICOM UID (digits and dots, at most 64) for ${what} but received ${JSON.stringify(uid.slice(0, 80))}`,
    );
  return uid;
}

export class DicomwebArchive {
  readonly base: string;
  private readonly auth: string | null;
  private readonly idleMs: number;

  constructor(baseUrl: string, opts: ArchiveOptions = {}) {
    let u: URL;
    try {
      u = new URL(baseUrl);
    } catch {
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected a DICOMweb URL (http or https) but received ${JSON.stringify(baseUrl.slice(0, 200))}`,
      );
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected an http or https DICOMweb URL but received ${u.protocol}`,
      );
    const c = opts.credentials ?? {};
    let basic = c.basic ?? null;
    if (!basic && u.username)
      basic = { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
    u.username = '';
    u.password = '';
    this.base = u.toString().replace(/\/+$/, '');
    this.auth = c.bearer
      ? `Bearer ${c.bearer}`
      : basic
        ? `Basic ${Buffer.from(`${basic.user}:${basic.password}`).toString('base64')}`
        : null;
    this.idleMs = opts.idleTimeoutMs ?? 60_000;
  }

  /**
   * The slide series of a study (modality SM, SOP class VL Whole Slide Microscopy), or the one series
   * asked for. STUDY_NOT_FOUND when the archive has no such study or series, or none that is a slide.
   */
  async slideSeries(studyUid: string, seriesUid?: string): Promise<SlideSeries[]> {
    checkUid('the study', studyUid);
    if (seriesUid !== undefined) checkUid('the series', seriesUid);
    const q = new URLSearchParams();
    if (seriesUid) q.set('SeriesInstanceUID', seriesUid);
    q.append('includefield', '00080060');
    q.append('includefield', '0008103E');
    q.append('includefield', '00201209');
    const all = await this.json(`/studies/${studyUid}/series?${q.toString()}`);
    const found = all
      .map((ds) => ({
        studyUid: str(ds, '0020000D') ?? studyUid,
        seriesUid: str(ds, '0020000E') ?? '',
        modality: str(ds, '00080060') ?? '',
        description: str(ds, '0008103E'),
        instances: Number(str(ds, '00201209')) || null,
      }))
      // An archive may ignore a key it does not support: the answer is checked, not trusted.
      .filter((s) => DICOM_UID.test(s.seriesUid) && (!seriesUid || s.seriesUid === seriesUid));
    const slides = found.filter((s) => s.modality.toUpperCase() === 'SM');
    if (slides.length) return slides;
    if (seriesUid && found.length)
      throw new HttpError(
        'STUDY_NOT_FOUND',
        `series ${seriesUid} is modality ${found[0]!.modality || 'unknown'}, not a slide (SM)`,
      );
    if (found.length)
      throw new HttpError(
        'STUDY_NOT_FOUND',
        `study ${studyUid} holds no slide series (modality SM) in ${this.base}`,
      );
    if (seriesUid && (await this.studyExists(studyUid)))
      throw new HttpError('STUDY_NOT_FOUND', `no series ${seriesUid} in study ${studyUid} in ${this.base}`);
    throw new HttpError('STUDY_NOT_FOUND', `no study ${studyUid} in ${this.base}`);
  }

  private async studyExists(studyUid: string): Promise<boolean> {
    const q = new URLSearchParams({ StudyInstanceUID: studyUid });
    return (await this.json(`/studies?${q.toString()}`)).some((ds) => str(ds, '0020000D') === studyUid);
  }

  /**
   * Retrieve a series (WADO-RS, the instances as stored: `transfer-syntax=*`) into `dir`, one file per
   * instance named by its SOP Instance UID. Refuses (IMPORT_TOO_LARGE) as soon as the series passes
   * `maxBytes` or `maxInstances`; deletes what it wrote when it fails.
   */
  async retrieveSeries(
    series: Pick<SlideSeries, 'studyUid' | 'seriesUid'>,
    dir: string,
    limits: RetrieveLimits,
    onProgress?: (instances: number, bytes: number) => void,
  ): Promise<RetrievedSeries> {
    checkUid('the study', series.studyUid);
    checkUid('the series', series.seriesUid);
    const maxInstances = limits.maxInstances ?? MAX_SERIES_INSTANCES;
    const tooLarge = (what: string): HttpError =>
      new HttpError('IMPORT_TOO_LARGE', `the series is ${what}: refused`);
    await mkdir(dir, { recursive: true });
    const { res, idle } = await this.request(`/studies/${series.studyUid}/series/${series.seriesUid}`, {
      accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
    });
    const out: RetrievedSeries = { dir, instances: [], bytes: 0, skipped: [] };
    let sink: FileHandle | null = null;
    try {
      if (res.status === 404 || res.status === 204)
        throw new HttpError(
          'STUDY_NOT_FOUND',
          `no series ${series.seriesUid} in study ${series.studyUid} in ${this.base}`,
        );
      if (!res.ok) throw await this.failed(res);
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (Number.isFinite(declared) && declared > limits.maxBytes)
        throw tooLarge(`${declared} bytes, over the limit of ${limits.maxBytes}`);
      const related = parseRelatedType(res.headers.get('content-type') ?? undefined);
      if (!related)
        throw new HttpError(
          'ARCHIVE_FAILED',
          `${this.base} answered ${JSON.stringify(res.headers.get('content-type') ?? '')}, not multipart/related DICOM`,
        );
      if (!res.body) throw new HttpError('ARCHIVE_FAILED', `${this.base} answered an empty body`);
      let file: string | null = null;
      let n = 0;
      const body = (async function* () {
        for await (const chunk of res.body!) {
          idle.touch();
          yield chunk;
        }
      })();
      for await (const ev of readMultipart(body, related.boundary)) {
        if (ev.kind === 'part') {
          const type = (ev.headers['content-type'] ?? 'application/dicom')
            .split(';')[0]!
            .trim()
            .toLowerCase();
          if (type !== 'application/dicom')
            throw new HttpError(
              'ARCHIVE_FAILED',
              `${this.base} sent a part of type ${type}, not application/dicom`,
            );
          if (++n > maxInstances) throw tooLarge(`more than ${maxInstances} instances`);
          file = path.join(dir, `part-${n}.dcm`);
          sink = await open(file, 'wx');
        } else if (ev.kind === 'data') {
          out.bytes += ev.chunk.length;
          if (out.bytes > limits.maxBytes) throw tooLarge(`over the limit of ${limits.maxBytes} bytes`);
          await sink!.write(ev.chunk);
        } else {
          await sink!.close();
          sink = null;
          await this.file(file!, series, out);
          onProgress?.(out.instances.length, out.bytes);
        }
      }
      if (out.instances.length === 0)
        throw new HttpError(
          'STUDY_NOT_FOUND',
          `series ${series.seriesUid} in ${this.base} holds no slide instance`,
        );
      return out;
    } catch (e) {
      await (sink as FileHandle | null)?.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      if (e instanceof MultipartError) throw new HttpError('ARCHIVE_FAILED', `${this.base}: ${e.message}`);
      throw this.network(e);
    } finally {
      idle.stop();
      await res.body?.cancel().catch(() => undefined);
    }
  }

  /** A received part: kept under its SOP Instance UID if it is a slide instance of the series. */
  private async file(
    file: string,
    series: Pick<SlideSeries, 'studyUid' | 'seriesUid'>,
    out: RetrievedSeries,
  ): Promise<void> {
    let h: DicomInstanceHeader;
    try {
      h = await readDicomHeader(file);
    } catch (e) {
      if (!isSlideError(e)) throw e;
      throw new HttpError('ARCHIVE_FAILED', `${this.base} sent a part that is not DICOM: ${e.message}`);
    }
    if (!h.wsi || h.seriesUid !== series.seriesUid || !h.sopInstanceUid) {
      out.skipped.push(h.sopInstanceUid ?? path.basename(file));
      await rm(file, { force: true });
      return;
    }
    await rename(file, path.join(out.dir, `${h.sopInstanceUid}.dcm`));
    out.instances.push(h);
  }

  private async json(p: string): Promise<Json[]> {
    const { res, idle } = await this.request(p, { accept: 'application/dicom+json, application/json' });
    try {
      if (res.status === 204 || res.status === 404) return [];
      if (!res.ok) throw await this.failed(res);
      const chunks: Buffer[] = [];
      let bytes = 0;
      if (res.body)
        for await (const c of res.body) {
          idle.touch();
          bytes += c.length;
          if (bytes > MAX_JSON_BYTES)
            throw new HttpError(
              'ARCHIVE_FAILED',
              `${this.base} answered a search with over ${MAX_JSON_BYTES} bytes`,
            );
          chunks.push(Buffer.from(c));
        }
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return [];
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        throw new HttpError(
          'ARCHIVE_FAILED',
          `${this.base} answered a search with something that is not JSON`,
        );
      }
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'object' && x !== null))
        throw new HttpError(
          'ARCHIVE_FAILED',
          `${this.base} answered a search with something that is not DICOM JSON`,
        );
      return v as Json[];
    } catch (e) {
      throw this.network(e);
    } finally {
      idle.stop();
      await res.body?.cancel().catch(() => undefined);
    }
  }

  /** GET with an idle timer that aborts the request when the archive goes silent. */
  private async request(
    p: string,
    o: { accept: string },
  ): Promise<{ res: Response; idle: { touch(): void; stop(): void } }> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | null = null;
    const idle = {
      touch: () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => ac.abort(new IdleTimeout()), this.idleMs);
      },
      stop: () => {
        if (timer) clearTimeout(timer);
        timer = null;
      },
    };
    idle.touch();
    const headers: Record<string, string> = { accept: o.accept };
    if (this.auth) headers.authorization = this.auth;
    try {
      const res = await fetch(`${this.base}${p}`, { headers, redirect: 'manual', signal: ac.signal });
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel().catch(() => undefined);
        throw new HttpError(
          'ARCHIVE_FAILED',
          `${this.base} redirected the request (HTTP ${res.status}); give the archive's DICOMweb root itself`,
        );
      }
      return { res, idle };
    } catch (e) {
      idle.stop();
      throw this.network(e);
    }
  }

  private async failed(res: Response): Promise<HttpError> {
    const text = (await res.text().catch(() => '')).replace(/\s+/g, ' ').slice(0, 200);
    if (res.status === 401 || res.status === 403)
      return new HttpError(
        'ARCHIVE_FAILED',
        `${this.base} refused the request (HTTP ${res.status}): check the credentials`,
      );
    return new HttpError(
      'ARCHIVE_FAILED',
      `${this.base} answered HTTP ${res.status}${text ? `: ${text}` : ''}`,
    );
  }

  /** Network failures in one line naming the archive. */
  private network(e: unknown): unknown {
    if (e instanceof HttpError) return e;
    if (e instanceof IdleTimeout || (e instanceof Error && e.cause instanceof IdleTimeout))
      return new HttpError('ARCHIVE_FAILED', `${this.base} sent nothing for ${this.idleMs / 1000} s`);
    if (e instanceof Error && e.name === 'AbortError' && e.cause === undefined)
      return new HttpError('ARCHIVE_FAILED', `request to ${this.base} was cut off`);
    if (e instanceof TypeError && e.message === 'fetch failed') {
      const cause = e.cause as { code?: string; message?: string } | undefined;
      const why =
        cause?.code === 'ECONNREFUSED'
          ? 'connection refused'
          : (cause?.code ?? cause?.message ?? 'network error');
      return new HttpError('ARCHIVE_FAILED', `cannot reach the archive at ${this.base}: ${why}`);
    }
    return e;
  }
}

class IdleTimeout extends Error {
  constructor() {
    super('idle timeout');
  }
}
