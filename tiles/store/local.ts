import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Manifest, ManifestSchema } from '../../protocol/index.ts';
import { MANIFEST_FILE, type SlideStore, type Staging, isSlideId } from './types.ts';

/** Files a stored slide may hold; anything else is refused by filePath. */
const STORED_FILES = new Set(['slide.tif', 'manifest.json', 'label.jpg', 'macro.jpg', 'thumbnail.jpg']);

/**
 * The store in a local folder: `<root>/slides/<id>/…`. Staging areas live in `<root>/tmp` on the same
 * file system, so publishing is one rename(2): readers see a whole slide or none.
 */
export class LocalSlideStore implements SlideStore {
  readonly root: string;
  private readonly slidesDir: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.slidesDir = path.join(this.root, 'slides');
    this.tmpDir = path.join(this.root, 'tmp');
  }

  private dirOf(id: string): string | null {
    return isSlideId(id) ? path.join(this.slidesDir, id) : null;
  }

  async has(id: string): Promise<boolean> {
    const dir = this.dirOf(id);
    if (!dir) return false;
    return exists(path.join(dir, MANIFEST_FILE));
  }

  async manifest(id: string): Promise<Manifest | null> {
    const dir = this.dirOf(id);
    if (!dir) return null;
    try {
      return ManifestSchema.parse(JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async list(): Promise<Manifest[]> {
    let names: string[];
    try {
      names = await readdir(this.slidesDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: Manifest[] = [];
    for (const name of names.filter(isSlideId).sort()) {
      const m = await this.manifest(name);
      if (m) out.push(m);
    }
    return out;
  }

  async filePath(id: string, file: string): Promise<string | null> {
    const dir = this.dirOf(id);
    if (!dir || !STORED_FILES.has(file)) return null;
    const p = path.join(dir, file);
    return (await exists(p)) ? p : null;
  }

  async stage(): Promise<Staging> {
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.slidesDir, { recursive: true });
    const dir = path.join(this.tmpDir, `stage-${process.pid}-${randomUUID()}`);
    await mkdir(dir);
    const slidesDir = this.slidesDir;
    let done = false;
    return {
      dir,
      async commit(id: string): Promise<boolean> {
        if (!isSlideId(id)) throw new RangeError(`not a slide id: ${JSON.stringify(id)}`);
        if (done) throw new Error('staging area already closed');
        done = true;
        const target = path.join(slidesDir, id);
        try {
          await rename(dir, target);
          return true;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          await rm(dir, { recursive: true, force: true });
          if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
          throw e;
        }
      },
      async abort(): Promise<void> {
        done = true;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  async remove(id: string): Promise<boolean> {
    const dir = this.dirOf(id);
    if (!dir || !(await exists(dir))) return false;
    // Move aside first so the slide disappears at once, then delete at leisure.
    const trash = path.join(this.tmpDir, `trash-${process.pid}-${randomUUID()}`);
    await mkdir(this.tmpDir, { recursive: true });
    await rename(dir, trash);
    await rm(trash, { recursive: true, force: true });
    return true;
  }

  async sweep(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch {
      return 0;
    }
    let n = 0;
    for (const name of names) {
      const m = /^(stage|trash|work)-(\d+)-/.exec(name);
      // Another live process (a CLI ingest sharing this folder) may still be writing there.
      if (m && !processAlive(Number(m[2]))) {
        await rm(path.join(this.tmpDir, name), { recursive: true, force: true });
        n++;
      }
    }
    return n;
  }

  /** A private scratch folder for a reader's intermediate files, swept like staging areas. */
  async workDir(): Promise<string> {
    await mkdir(this.tmpDir, { recursive: true });
    const dir = path.join(this.tmpDir, `work-${process.pid}-${randomUUID()}`);
    await mkdir(dir);
    return dir;
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
