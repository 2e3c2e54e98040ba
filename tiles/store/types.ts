import type { AssociatedName, Manifest } from '../../protocol/index.ts';

/** Files of one stored slide. */
export const SLIDE_FILE = 'slide.tif';
export const MANIFEST_FILE = 'manifest.json';
export function associatedFile(name: AssociatedName): string {
  return `${name}.jpg`;
}

export interface CommitOptions {
  /**
   * Runs once every staged file is durably in the store and right before the slide becomes visible
   * (the local store's rename, the object store's manifest upload); throwing here discards
   * everything and publishes nothing (an ingest whose caller has gone away).
   */
  beforePublish?: () => Promise<void> | void;
}

/** A staging area: files are written here, then published all at once or not at all. */
export interface Staging {
  /** A local folder, whatever the store: the files to publish are written here. */
  readonly dir: string;
  /**
   * Publish under `id`, durably, whole or not at all: readers see the slide only once every file is
   * stored. Returns false when a slide with this id already exists (the staging area is discarded:
   * same content, same id, no second copy).
   */
  commit(id: string, opts?: CommitOptions): Promise<boolean>;
  /** Discard everything written. Safe to call after commit or twice. */
  abort(): Promise<void>;
}

export interface OpenOptions {
  /**
   * Read what the storage holds now, past any copy this process keeps (an integrity check must see
   * the stored bytes, not a cached block).
   */
  fresh?: boolean;
}

/** Positioned reads of one stored file (a local file handle, or ranged requests to an object store). */
export interface ReadAt {
  /** The file's size in bytes. */
  readonly size: number;
  /**
   * The file on a local disk, when the store keeps it there: libvips then reads large regions of
   * slide.tif itself (several times faster than joining tiles handed to it one by one).
   */
  readonly localFile?: string;
  /** `length` bytes from `offset`; fewer only where the file ends (none past its end). */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Fetch `length` bytes from `offset` in one go and keep them for the reads that follow (a file's
   * index, about to be parsed in many small reads). Absent where every read is as cheap as this
   * (a local file); a store may skip it (too large for its cache).
   */
  preload?(offset: number, length: number): Promise<void>;
  /** Release the file; reads still running may fail. Safe to call twice. */
  close(): Promise<void>;
}

/** One file stored under a slide, as the store lists it. */
export interface StoredFile {
  name: string;
  bytes: number;
}

/**
 * The vendor-neutral slide store. Ids are content hashes (32 lower-case hex digits); every method
 * rejects anything else before touching storage, so no caller can name a path or key.
 *
 * A slide exists once its manifest.json does: has, manifest and list look at manifests only, and a
 * store publishes the manifest after every other file (and removes it first).
 */
export interface SlideStore {
  /** Where the slides are, for messages: a folder, or `s3://bucket/prefix`. */
  readonly location: string;
  has(id: string): Promise<boolean>;
  manifest(id: string): Promise<Manifest | null>;
  list(): Promise<Manifest[]>;
  /**
   * A stored file of a slide (slide.tif, an associated image, the manifest) opened for positioned
   * reads; null when the slide or the file is absent or the name is not one a slide holds.
   */
  open(id: string, file: string, opts?: OpenOptions): Promise<ReadAt | null>;
  /**
   * Ids of every slide with anything stored, manifest or not, sorted: what an integrity check
   * walks (a slide whose manifest went missing is exactly what it must report).
   */
  storedIds(): Promise<string[]>;
  /** Files stored under a slide, manifest included, sorted by name; null when there are none. */
  files(id: string): Promise<StoredFile[] | null>;
  /** A staging area in a local temporary folder. */
  stage(): Promise<Staging>;
  /** Delete a slide, its manifest first; false when nothing was stored under the id. */
  remove(id: string): Promise<boolean>;
  /** Delete what a crash left: staging areas and scratch folders of dead processes, half-published slides. */
  sweep(): Promise<number>;
  /** A private local scratch folder for a reader's intermediate files, swept like staging areas. */
  workDir(): Promise<string>;
  /**
   * Where an upload waits for whichever node ingests it, when that node may not see the folder the
   * upload was received in (an object store: nodes share the bucket, not a disk). Absent for a local
   * store: its data folder is the one every node mounts, uploads included.
   */
  readonly uploads?: UploadArea;
}

/** Uploads staged in the store (under their own prefix, apart from slides) until they are ingested. */
export interface UploadArea {
  /** Copy every file under the local folder `dir` in under `key` (a UUID); the files' count. */
  put(key: string, dir: string): Promise<number>;
  /**
   * Copy the files under `key` into a new private scratch folder (swept like staging areas once its
   * process is gone) and return it, the files at the same relative paths; null when there are none.
   */
  fetch(key: string): Promise<string | null>;
  /** Delete the files under `key`; nothing there is no error. */
  remove(key: string): Promise<void>;
}

export const UPLOAD_KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Files a stored slide may hold; open() refuses any other name. */
export const STORED_FILES: ReadonlySet<string> = new Set([
  SLIDE_FILE,
  MANIFEST_FILE,
  'label.jpg',
  'macro.jpg',
  'thumbnail.jpg',
]);

/** A whole stored file in memory (associated images, a manifest); null when absent. */
export async function readStoredFile(
  store: Pick<SlideStore, 'open'>,
  id: string,
  file: string,
): Promise<Buffer | null> {
  const f = await store.open(id, file);
  if (!f) return null;
  try {
    return await f.read(0, f.size);
  } finally {
    await f.close();
  }
}

export const SLIDE_ID = /^[0-9a-f]{32}$/;
export function isSlideId(id: unknown): id is string {
  return typeof id === 'string' && SLIDE_ID.test(id);
}
