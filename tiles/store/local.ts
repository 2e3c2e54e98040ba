import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Manifest, ManifestSchema } from '../../protocol/index.ts';
import { sweepWorkFolders } from './owner.ts';
import {
  type CommitOptions,
  MANIFEST_FILE,
  type ReadAt,
  STORED_FILES,
  type SlideStore,
  type Staging,
  type StoredFile,
  isSlideId,
} from './types.ts';

/**
 * The file-system calls that make a publication durable, injectable so a test can watch their order
 * on the real file system.
 */
export interface StoreFs {
  open(file: string, flags: 'r'): Promise<{ sync(): Promise<void>; close(): Promise<void> }>;
  rename(from: string, to: string): Promise<void>;
}

const NODE_FS: StoreFs = { open: (f, flags) => fsp.open(f, flags), rename: fsp.rename };

/**
 * The store in a local folder: `<root>/slides/<id>/…`. Staging areas live in `<root>/tmp` on the same
 * file system, so publishing is one rename(2): readers see a whole slide or none.
 */
export class LocalSlideStore implements SlideStore {
  readonly root: string;
  readonly location: string;
  private readonly slidesDir: string;
  private readonly tmpDir: string;

  private readonly fs: StoreFs;

  constructor(root: string, opts: { fs?: StoreFs } = {}) {
    this.fs = opts.fs ?? NODE_FS;
    this.root = path.resolve(root);
    this.location = this.root;
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

  async open(id: string, file: string): Promise<ReadAt | null> {
    const dir = this.dirOf(id);
    if (!dir || !STORED_FILES.has(file)) return null;
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path.join(dir, file), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      return fileReadAt(fh, (await fh.stat()).size, path.join(dir, file));
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /**
   * Where a stored file lies on disk, for programs that read it themselves (other viewers, test
   * references); not part of SlideStore: serving reads through open().
   */
  localPath(id: string, file: string): string | null {
    const dir = this.dirOf(id);
    return dir && STORED_FILES.has(file) ? path.join(dir, file) : null;
  }

  async storedIds(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.slidesDir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return entries
      .filter((e) => e.isDirectory() && isSlideId(e.name))
      .map((e) => e.name)
      .sort();
  }

  async files(id: string): Promise<StoredFile[] | null> {
    const dir = this.dirOf(id);
    if (!dir) return null;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const out: StoredFile[] = [];
    for (const name of names.sort()) {
      try {
        const s = await stat(path.join(dir, name));
        if (s.isFile()) out.push({ name, bytes: s.size });
      } catch {
        // Gone meanwhile.
      }
    }
    return out;
  }

  async stage(): Promise<Staging> {
    await mkdir(this.tmpDir, { recursive: true });
    // The first slide ever published needs the slides folder itself to survive a power cut.
    if (await mkdir(this.slidesDir, { recursive: true })) await syncPath(this.fs, this.root);
    const dir = path.join(this.tmpDir, `stage-${process.pid}-${randomUUID()}`);
    await mkdir(dir);
    const { slidesDir, fs } = this;
    let done = false;
    return {
      dir,
      async commit(id: string, opts: CommitOptions = {}): Promise<boolean> {
        if (!isSlideId(id)) throw new RangeError(`not a slide id: ${JSON.stringify(id)}`);
        if (done) throw new Error('staging area already closed');
        done = true;
        const target = path.join(slidesDir, id);
        try {
          // rename(2) is atomic but not durable: without these flushes a power cut can leave a
          // published folder whose files are empty or cut short. Contents first, then the staging
          // folder's entries, then (after the rename) the folder that now names the slide.
          await syncTree(fs, dir);
          await opts.beforePublish?.();
          await fs.rename(dir, target);
          await syncPath(fs, slidesDir);
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
    await fsp.rename(dir, trash);
    await rm(trash, { recursive: true, force: true });
    return true;
  }

  sweep(): Promise<number> {
    return sweepWorkFolders(this.tmpDir);
  }

  /** A private scratch folder for a reader's intermediate files, swept like staging areas. */
  async workDir(): Promise<string> {
    await mkdir(this.tmpDir, { recursive: true });
    const dir = path.join(this.tmpDir, `work-${process.pid}-${randomUUID()}`);
    await mkdir(dir);
    return dir;
  }
}

/**
 * Positioned reads on an open file: pread(2), so any number run at once on one handle. Short reads
 * (a file cut short since it was opened) are retried until the end of the file.
 */
function fileReadAt(fh: fsp.FileHandle, size: number, localFile: string): ReadAt {
  let closed: Promise<void> | null = null;
  return {
    size,
    localFile,
    async read(offset: number, length: number): Promise<Buffer> {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = Buffer.allocUnsafe(n);
      let done = 0;
      while (done < n) {
        const { bytesRead } = await fh.read(buf, done, n - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === n ? buf : buf.subarray(0, done);
    },
    close(): Promise<void> {
      closed ??= fh.close().catch(() => {});
      return closed;
    },
  };
}

/** fsync one file or folder (a folder opened read-only: its entries are what gets flushed). */
async function syncPath(fs: StoreFs, p: string): Promise<void> {
  const h = await fs.open(p, 'r');
  try {
    await h.sync();
  } catch (e) {
    // Some platforms cannot fsync a folder; the files in it are flushed all the same.
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EBADF'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await h.close();
  }
}

/** Every file under `dir`, then every folder deepest first, then `dir` itself. */
async function syncTree(fs: StoreFs, dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const full = (e: (typeof entries)[number]): string => path.join(e.parentPath, e.name);
  for (const e of entries) if (e.isFile()) await syncPath(fs, full(e));
  const dirs = entries.filter((e) => e.isDirectory()).map(full);
  for (const d of dirs.sort((a, b) => b.length - a.length)) await syncPath(fs, d);
  await syncPath(fs, dir);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
