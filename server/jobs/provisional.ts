import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { JobDto } from '../../protocol/index.ts';
import { type SlideStore, openSlide, singleFileId } from '../../tiles/index.ts';
import { SourceSlide, type TileService } from '../../tiles/serve/index.ts';
import type { Db } from '../db/index.ts';
import type { JobRepo } from '../db/jobs.ts';
import { type SlideRepo, setConversion } from '../db/slides.ts';

export interface ProvisionalOptions {
  dataDir: string;
  tileSize: number;
  jpegQuality: number;
  log: (msg: string) => void;
  /** How often the jobs of slides served from their source are looked at (ms). */
  pollMs?: number;
}

/** What an upload leaves for the slide to be served from while it converts. */
export interface ProvisionalUpload {
  /** The uploaded file (a single file: several-file uploads are converted first). */
  input: string;
  name: string;
  /** SHA-256 (hex) of the file, computed as it arrived: the slide's id follows from it. */
  sha256: string;
}

interface Tracked {
  jobId: string;
  /** The source's copy, relative to the data folder. */
  dir: string;
}

const SOURCES = 'sources';

/**
 * How long the conversion of a slide served from its source waits before it starts: the converter's
 * start takes a core for a second or so, which the first view's tiles need more (the conversion
 * takes a minute or more either way).
 */
export const SOURCE_FIRST_MS = 2000;

/**
 * Slides served from their source while the store copy is made ("open at once"). Once an upload is
 * on disk and its reader opens it, the slide is listed (status converting, percent done) and its
 * tiles come from the source; the job's row says when the store copy is published (the source is
 * then dropped: every later tile comes from the store) or failed (the slide stays served from its
 * source when that still reads, else it is marked failed with the reason, and its tiles are 410).
 *
 * The source is a hard link to the upload in `sources/<id>/` of this node's data folder, so the
 * conversion deleting its upload (or staging it in an object store for a worker elsewhere) does not
 * take it away. Only the node that received the upload serves the slide before its publication; on
 * other nodes it is listed and its tiles answer 503 until the stored pyramid is there.
 */
export class ProvisionalSlides {
  private readonly tracked = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closed = false;
  /** Slides opened by open() whose coarsest tiles are not yet asked to be made (see warm). */
  private readonly opened = new Map<string, SourceSlide>();

  constructor(
    private readonly db: Db,
    private readonly slides: SlideRepo,
    private readonly jobs: JobRepo,
    private readonly tiles: TileService,
    private readonly store: Pick<SlideStore, 'manifest' | 'remove'>,
    private readonly opts: ProvisionalOptions,
  ) {}

  /** Slides being served from their source on this node. */
  get size(): number {
    return this.tracked.size;
  }

  /**
   * Serve an upload's slide from its source while `job` converts it; its id, or null (nothing done) when the
   * slide is already stored, or its reader cannot serve it before conversion (the slide then appears
   * once converted, as before).
   */
  async open(
    upload: ProvisionalUpload,
    job: JobDto,
    owner: { siteId: string | null; userId: string | null },
  ): Promise<string | null> {
    const id = singleFileId(upload.sha256);
    if (this.closed || this.tiles.servesSource(id)) return null;
    const row = await this.slides.row(id);
    if ((row && row.status !== 'failed') || (await this.store.manifest(id))) return null;
    const rel = path.join(SOURCES, id);
    const dir = path.join(this.opts.dataDir, rel);
    const file = path.join(dir, path.basename(upload.input));
    let slide: SourceSlide | null = null;
    try {
      await mkdir(dir, { recursive: true });
      await link(upload.input, file).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code === 'EEXIST') return;
        // Another file system (or one without links): a copy.
        await copyFile(upload.input, file);
      });
      const source = await openSlide(file, { serving: true });
      try {
        slide = await SourceSlide.open(source, {
          id,
          name: upload.name,
          tileSize: this.opts.tileSize,
          jpegQuality: this.opts.jpegQuality,
        });
      } catch (e) {
        await source.close();
        throw e;
      }
      this.tiles.addSource(slide);
      this.tracked.set(id, { jobId: job.id, dir: rel });
      await this.slides.register(
        slide.manifest,
        owner.siteId,
        { name: upload.name, uploadedBy: owner.userId },
        { jobId: job.id, sourcePath: path.join(rel, path.basename(file)) },
      );
      if (row?.status === 'failed')
        await setConversion(this.db, id, { status: 'converting', progress: 0, reason: null });
      this.start();
      this.opened.set(id, slide);
      return id;
    } catch (e) {
      this.tracked.delete(id);
      if (slide) this.tiles.dropSource(id, 0);
      await rm(dir, { recursive: true, force: true });
      this.opts.log(
        `slide ${id} is not served before conversion: ${e instanceof Error ? e.message : String(e)}`,
      );
      return null;
    }
  }

  /**
   * Make the coarsest tiles of a slide open() just served, the ones a viewer asks for first, while its
   * page loads. Called once the upload's answer is out: the first steps of making them (~2 ms of the
   * main thread) held up that answer when they were started before it.
   */
  warm(id: string): void {
    const slide = this.opened.get(id);
    this.opened.delete(id);
    if (slide && this.tiles.servesSource(id)) void slide.warm();
  }

  /**
   * On start: serve again the slides whose source this node keeps (a conversion that failed, or
   * one a restart interrupted, whose job the next poll finds failed).
   */
  async resume(): Promise<void> {
    const rows = await this.db
      .selectFrom('slides')
      .select(['id', 'name', 'job_id', 'source_path', 'status'])
      .where('status', 'in', ['converting', 'source'])
      .execute();
    for (const r of rows) {
      // Not here (another node's) or no longer readable: left to the node that has it.
      if (!(await this.adopt(r)) && r.status === 'source' && r.source_path)
        this.opts.log(`slide ${r.id}: its source is not served by this node`);
    }
    if (this.tracked.size > 0) this.start();
  }

  /**
   * A slide deleted whole while served from its source: stop serving it, and make sure the
   * conversion's end does not bring it back (and that what it stores is removed).
   */
  async withdraw(id: string, status: string | null): Promise<void> {
    if (status === 'converting')
      await this.db
        .insertInto('slide_withdrawals')
        .values({ slide_id: id, created_at: new Date().toISOString() })
        .onConflict((oc) => oc.column('slide_id').doNothing())
        .execute();
    this.tiles.dropSource(id, 0);
    this.opened.delete(id);
    const t = this.tracked.get(id);
    if (!t || status !== 'converting') {
      this.tracked.delete(id);
      await rm(path.join(this.opts.dataDir, SOURCES, id), { recursive: true, force: true });
    }
    // A converting one stays tracked: its job's end removes what it stored.
  }

  /**
   * Why the tile service has no pixels for a slide the user may see: 'retry' once its source is
   * opened here (a slide another process of this node received, or one served since before a
   * restart), or the answer to give: 410 for a failed slide, 503 for one converting elsewhere.
   * Null when it is simply not there (404).
   */
  async missing(
    id: string,
  ): Promise<'retry' | { status: number; code: 'SLIDE_FAILED' | 'SERVER_BUSY'; message: string } | null> {
    const row = await this.slides.row(id);
    if (!row || !row.status || row.status === 'stored') return null;
    if (row.status === 'failed')
      return {
        status: 410,
        code: 'SLIDE_FAILED',
        message: `slide ${id} could not be converted, and its source cannot be served`,
      };
    if (row.source_path && !this.tiles.servesSource(id) && (await this.adopt(row))) return 'retry';
    return {
      status: 503,
      code: 'SERVER_BUSY',
      message: `slide ${id} is being converted; it is served by the node that received it until it is stored`,
    };
  }

  /** Serve a slide from its source kept in this node's data folder, if it is here and reads. */
  private async adopt(r: {
    id: string;
    name: string;
    job_id: string | null;
    source_path: string | null;
    status: string | null;
  }): Promise<boolean> {
    if (!r.source_path || this.closed) return false;
    const file = path.join(this.opts.dataDir, r.source_path);
    try {
      const source = await openSlide(file, { serving: true });
      const slide = await SourceSlide.open(source, {
        id: r.id,
        name: r.name,
        tileSize: this.opts.tileSize,
        jpegQuality: this.opts.jpegQuality,
      }).catch(async (e: unknown) => {
        await source.close();
        throw e;
      });
      if (this.tiles.servesSource(r.id)) {
        await slide.close();
        return true;
      }
      this.tiles.addSource(slide);
      if (r.status === 'converting' && r.job_id) {
        this.tracked.set(r.id, { jobId: r.job_id, dir: path.dirname(r.source_path) });
        this.start();
      }
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The stored pyramid of a slide converted by this process is published: its tiles come from the
   * store at once (other nodes switch at their next poll). The source folder goes at that poll.
   */
  published(id: string): void {
    if (this.tracked.has(id)) this.tiles.dropSource(id);
  }

  /** Look at the jobs now (tests; also run every pollMs while anything is tracked). */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }

  private start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      void this.poll().catch((e: unknown) => this.opts.log(`conversion watch failed: ${String(e)}`));
    }, this.opts.pollMs ?? 500);
    this.timer.unref();
  }

  private async pollOnce(): Promise<void> {
    if (this.tracked.size === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    const ids = [...this.tracked.keys()];
    const rows = await this.db
      .selectFrom('slides')
      .select(['id', 'status', 'progress'])
      .where('id', 'in', ids)
      .execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const id of ids) {
      const t = this.tracked.get(id)!;
      const job = await this.jobs.get(t.jobId);
      const row = byId.get(id);
      const withdrawn = !row
        ? !!(await this.db
            .selectFrom('slide_withdrawals')
            .select('slide_id')
            .where('slide_id', '=', id)
            .executeTakeFirst())
        : false;
      if (job && (job.state === 'queued' || job.state === 'running')) {
        if (row && row.status === 'converting' && row.progress !== job.percent)
          await setConversion(this.db, id, { progress: job.percent });
        continue;
      }
      this.tracked.delete(id);
      if (withdrawn || !row) {
        // Deleted meanwhile: whatever the conversion stored goes too.
        this.tiles.forget(id);
        if (job?.state === 'done') await this.store.remove(id).catch(() => undefined);
        await this.db.deleteFrom('slide_withdrawals').where('slide_id', '=', id).execute();
        await rm(path.join(this.opts.dataDir, t.dir), { recursive: true, force: true });
        continue;
      }
      if (job?.state === 'done' && row.status === 'stored') {
        // Published: from now on every tile comes from the store.
        this.tiles.dropSource(id);
        await rm(path.join(this.opts.dataDir, t.dir), { recursive: true, force: true });
        this.opts.log(`slide ${id}: stored pyramid published, no longer served from its source`);
        continue;
      }
      await this.failed(id, t, job?.error?.message ?? 'the conversion stopped');
    }
  }

  /** The conversion failed: served from the source while it still reads, else marked failed. */
  private async failed(id: string, t: Tracked, reason: string): Promise<void> {
    const slide = this.tiles.sourceSlide(id);
    const readable = slide
      ? await slide.check().then(
          () => true,
          () => false,
        )
      : false;
    if (readable) {
      await setConversion(this.db, id, { status: 'source', reason });
      this.opts.log(`slide ${id}: conversion failed (${reason}); still served from its source`);
      return;
    }
    this.tiles.dropSource(id, 0);
    await setConversion(this.db, id, { status: 'failed', reason });
    await rm(path.join(this.opts.dataDir, t.dir), { recursive: true, force: true });
    this.opts.log(`slide ${id}: conversion failed (${reason}); its source cannot be served either`);
  }
}
