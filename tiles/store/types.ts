import type { AssociatedName, Manifest } from '../../protocol/index.ts';

/** Files of one stored slide. */
export const SLIDE_FILE = 'slide.tif';
export const MANIFEST_FILE = 'manifest.json';
export function associatedFile(name: AssociatedName): string {
  return `${name}.jpg`;
}

export interface CommitOptions {
  /**
   * Runs after the staged files are flushed to disk and right before the publishing rename; throwing
   * here discards the staging area and publishes nothing (an ingest whose caller has gone away).
   */
  beforeRename?: () => Promise<void> | void;
}

/** A staging area: files are written here, then published all at once or not at all. */
export interface Staging {
  readonly dir: string;
  /**
   * Publish under `id`, durably: files and folders are flushed (fsync) before and after the rename.
   * Returns false when a slide with this id already exists (the staging area is discarded: same
   * content, same id, no second copy).
   */
  commit(id: string, opts?: CommitOptions): Promise<boolean>;
  /** Discard everything written. Safe to call after commit or twice. */
  abort(): Promise<void>;
}

/**
 * The vendor-neutral slide store. Ids are content hashes (32 lower-case hex digits); every method
 * rejects anything else before touching storage, so no caller can name a path.
 */
export interface SlideStore {
  has(id: string): Promise<boolean>;
  manifest(id: string): Promise<Manifest | null>;
  list(): Promise<Manifest[]>;
  /** Local path of a stored file, for positioned reads; null when the slide or file is absent. */
  filePath(id: string, file: string): Promise<string | null>;
  stage(): Promise<Staging>;
  remove(id: string): Promise<boolean>;
  /** Delete staging areas left by a crash. */
  sweep(): Promise<number>;
}

export const SLIDE_ID = /^[0-9a-f]{32}$/;
export function isSlideId(id: unknown): id is string {
  return typeof id === 'string' && SLIDE_ID.test(id);
}
