import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { type Bucket, PARALLEL, filesUnder, mapLimit } from './s3-bucket.ts';
import { UPLOAD_KEY, type UploadArea } from './types.ts';

/**
 * Uploads staged in the bucket for the worker that ingests them: `<prefix>/uploads/<key>/<path>`,
 * the files at the paths they were received under (a DICOM series, a MIRAX folder).
 */
export class S3UploadArea implements UploadArea {
  constructor(
    private readonly s3: Bucket,
    private readonly prefix: string,
    private readonly workDir: () => Promise<string>,
    private readonly ageMs = 7 * 24 * 3600 * 1000,
  ) {}

  private at(key: string): string {
    if (!UPLOAD_KEY.test(key)) throw new RangeError(`not an upload key: ${JSON.stringify(key)}`);
    return `${this.prefix}${key}/`;
  }

  async put(key: string, dir: string): Promise<number> {
    const at = this.at(key);
    const files = await filesUnder(dir);
    await mapLimit(files, PARALLEL, (f) => this.s3.upload(path.join(dir, f), `${at}${f}`));
    return files.length;
  }

  async fetch(key: string): Promise<string | null> {
    const at = this.at(key);
    const listed: { key: string; rel: string }[] = [];
    for await (const o of this.s3.objects(at)) listed.push(o);
    if (listed.length === 0) return null;
    const dir = await this.workDir();
    try {
      await mapLimit(listed, PARALLEL, async (o) => {
        // Keys were written by put() from safe relative names; anything else is not followed.
        const parts = o.rel.split('/');
        if (parts.some((p) => p === '' || p === '.' || p === '..'))
          throw new Error(`staged upload ${key} holds an unsafe name: ${JSON.stringify(o.rel)}`);
        const file = path.join(dir, ...parts);
        await mkdir(path.dirname(file), { recursive: true });
        if (!(await this.s3.download(o.key, file)))
          throw new Error(`staged upload ${key} lost ${JSON.stringify(o.rel)} while it was fetched`);
      });
      return dir;
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async remove(key: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.s3.objects(this.at(key))) keys.push(o.key);
    await this.s3.deleteKeys(keys);
  }

  /** Delete staged uploads no job took up for `ageMs` (a node lost between staging and queueing). */
  async sweep(): Promise<number> {
    const areas = new Map<string, { newest: number; keys: string[] }>();
    for await (const o of this.s3.objects(this.prefix)) {
      const key = o.rel.split('/')[0]!;
      const a = areas.get(key) ?? { newest: 0, keys: [] };
      a.newest = Math.max(a.newest, o.modified);
      a.keys.push(o.key);
      areas.set(key, a);
    }
    const before = Date.now() - this.ageMs;
    let n = 0;
    for (const a of areas.values()) {
      if (a.newest > before) continue;
      await this.s3.deleteKeys(a.keys);
      n++;
    }
    return n;
  }
}
