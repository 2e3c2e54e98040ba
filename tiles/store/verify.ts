import { createHash } from 'node:crypto';
import { type Manifest, ManifestSchema } from '../../protocol/index.ts';
import {
  MANIFEST_FILE,
  SLIDE_FILE,
  STORED_FILES,
  type SlideStore,
  associatedFile,
  isSlideId,
} from './types.ts';

/** What a check needs of a store: listings and reads, nothing that writes. */
export type VerifiableStore = Pick<SlideStore, 'storedIds' | 'files' | 'open'>;

/** Bytes hashed per read: large enough for an object store's ranged requests to stream. */
const HASH_CHUNK = 8 << 20;

/** SHA-256 and size of one file, as recorded in a manifest's `files`. */
export interface FileDigest {
  sha256: string;
  bytes: number;
}

/** A stored file whose content no longer matches its manifest entry. */
export interface FileMismatch {
  file: string;
  expected: FileDigest;
  actual: FileDigest;
}

/**
 * - `ok`: every file the manifest records is present and matches, and nothing else is in the folder.
 * - `failed`: a file changed, is missing, cannot be read, is not recorded although others are, an
 *   unexpected file sits in the folder, or the manifest itself is missing or unreadable.
 * - `unchecked`: the manifest records no checksums at all (a slide stored before they were kept); its
 *   files are present but their content cannot be checked.
 */
export type VerifyStatus = 'ok' | 'failed' | 'unchecked';

/** What `verifySlide` found in one slide folder. */
export interface SlideVerification {
  id: string;
  /** The slide's name from its manifest; null when the manifest cannot be read. */
  name: string | null;
  status: VerifyStatus;
  /** Why the slide could not be checked file by file (manifest missing, unreadable, foreign id). */
  error: string | null;
  mismatched: FileMismatch[];
  /** Files the manifest names (in `files`, or `slide.tif` and its associated images) that are gone. */
  missing: string[];
  /** Files present that could not be read to the end (permissions, I/O errors). */
  unreadable: { file: string; reason: string }[];
  /** Files the slide holds without a checksum in a manifest that records checksums for others. */
  unrecorded: string[];
  /** Files in the slide folder the manifest does not name. */
  extra: string[];
  /** Bytes read and hashed. */
  bytesHashed: number;
}

export interface VerifyOptions {
  /** Called as bytes are hashed, with the count since the previous call. */
  onBytes?: (bytes: number) => void;
}

export interface VerifyStoreOptions {
  /**
   * Progress over the whole run: bytes hashed so far of the bytes the slides' folders hold, and the
   * slide being checked (1-based).
   */
  onProgress?: (p: {
    doneBytes: number;
    totalBytes: number;
    slide: number;
    slides: number;
    id: string;
  }) => void;
  /** Called with each slide's result as soon as it is known (results are also returned). */
  onSlide?: (r: SlideVerification) => void;
}

/** File names a manifest may record: plain names inside the slide folder. */
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * Ids of every slide in the store, sorted, including slides whose manifest is missing or unreadable
 * (`store.list()` skips or throws on those, and they are what a check must report).
 */
export function storedSlideIds(store: VerifiableStore): Promise<string[]> {
  return store.storedIds();
}

/**
 * Re-hash one stored slide and compare every file with its manifest's `files` entry. Files are
 * streamed, never held in memory whole. Never throws for damage it finds: that is the result.
 */
export async function verifySlide(
  store: VerifiableStore,
  id: string,
  opts: VerifyOptions = {},
): Promise<SlideVerification> {
  const r: SlideVerification = {
    id,
    name: null,
    status: 'failed',
    error: null,
    mismatched: [],
    missing: [],
    unreadable: [],
    unrecorded: [],
    extra: [],
    bytesHashed: 0,
  };
  if (!isSlideId(id)) return { ...r, error: 'not a slide id' };
  let present: Set<string>;
  try {
    const files = await store.files(id);
    if (!files) return { ...r, error: 'not in the store' };
    present = new Set(files.map((f) => f.name));
  } catch (e) {
    return { ...r, error: `folder unreadable (${errorCode(e)})` };
  }

  const read = await readManifest(store, id);
  if ('error' in read) return { ...r, error: read.error };
  const m = read.manifest;
  r.name = m.name;
  const unsafe = Object.keys(m.files).filter((f) => !SAFE_NAME.test(f) || f === MANIFEST_FILE);
  if (unsafe.length > 0) {
    return { ...r, error: `manifest.json records a file outside the slide: ${JSON.stringify(unsafe[0])}` };
  }

  const recorded = new Map(Object.entries(m.files));
  const named = new Set([SLIDE_FILE, ...m.associated.map(associatedFile), ...recorded.keys()]);
  const noChecksums = recorded.size === 0;
  for (const file of [...named].sort()) {
    if (!present.has(file)) {
      r.missing.push(file);
      continue;
    }
    const expected = recorded.get(file);
    if (!expected) {
      if (!noChecksums) r.unrecorded.push(file);
      continue;
    }
    try {
      const actual = await hashFile(store, id, file, (n) => {
        r.bytesHashed += n;
        opts.onBytes?.(n);
      });
      if (actual.sha256 !== expected.sha256 || actual.bytes !== expected.bytes) {
        r.mismatched.push({ file, expected: { sha256: expected.sha256, bytes: expected.bytes }, actual });
      }
    } catch (e) {
      // Deleted between the listing and the read.
      if (e instanceof GoneError) r.missing.push(file);
      else r.unreadable.push({ file, reason: errorCode(e) });
    }
  }
  r.extra = [...present].filter((f) => f !== MANIFEST_FILE && !named.has(f)).sort();

  const damaged =
    r.mismatched.length + r.missing.length + r.unreadable.length + r.unrecorded.length + r.extra.length > 0;
  r.status = damaged ? 'failed' : noChecksums ? 'unchecked' : 'ok';
  return r;
}

/**
 * Verify every slide in the store (or the given ids, in that order), one after another: the disk is
 * the limit, and reading two large files at once only makes it seek.
 */
export async function verifyStore(
  store: VerifiableStore,
  ids?: readonly string[],
  opts: VerifyStoreOptions = {},
): Promise<SlideVerification[]> {
  const list = ids ? [...ids] : await storedSlideIds(store);
  // Sizes up front (cheap: one stat per file) so progress can be told in bytes over the whole run.
  let totalBytes = 0;
  if (opts.onProgress) {
    for (const id of list) totalBytes += isSlideId(id) ? await slideBytes(store, id) : 0;
  }
  let doneBytes = 0;
  const out: SlideVerification[] = [];
  for (const [i, id] of list.entries()) {
    const progress = () =>
      opts.onProgress?.({ doneBytes, totalBytes, slide: i + 1, slides: list.length, id });
    progress();
    const r = await verifySlide(store, id, {
      onBytes: (n) => {
        doneBytes += n;
        progress();
      },
    });
    out.push(r);
    opts.onSlide?.(r);
  }
  return out;
}

/** One line's worth of why a slide did not pass; empty for an `ok` slide. */
export function describeProblems(r: SlideVerification): string {
  if (r.error) return r.error;
  const parts: string[] = [];
  for (const x of r.mismatched) {
    parts.push(
      x.actual.bytes !== x.expected.bytes
        ? `${x.file} changed (${x.actual.bytes} bytes, recorded ${x.expected.bytes})`
        : `${x.file} changed (sha256 ${x.actual.sha256.slice(0, 12)}…, recorded ${x.expected.sha256.slice(0, 12)}…)`,
    );
  }
  for (const f of r.missing) parts.push(`${f} missing`);
  for (const u of r.unreadable) parts.push(`${u.file} unreadable (${u.reason})`);
  for (const f of r.unrecorded) parts.push(`${f} has no recorded checksum`);
  for (const f of r.extra) parts.push(`${f} not in the manifest`);
  if (parts.length === 0 && r.status === 'unchecked') parts.push('no checksums recorded');
  return parts.join(', ');
}

async function readManifest(
  store: VerifiableStore,
  id: string,
): Promise<{ manifest: Manifest } | { error: string }> {
  let text: string;
  try {
    const f = await store.open(id, MANIFEST_FILE, { fresh: true });
    if (!f) return { error: 'manifest.json missing' };
    try {
      text = (await f.read(0, f.size)).toString('utf8');
    } finally {
      await f.close();
    }
  } catch (e) {
    return { error: `manifest.json unreadable (${errorCode(e)})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: 'manifest.json is not valid JSON' };
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      error: `manifest.json is not a manifest (${issue?.path.join('.') || 'root'}: ${issue?.message})`,
    };
  }
  if (parsed.data.id !== id) return { error: `manifest.json belongs to slide ${parsed.data.id}` };
  return { manifest: parsed.data };
}

/** A file listed a moment ago that the store no longer has. */
class GoneError extends Error {}

function errorCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? (e as { name?: string }).name;
  return typeof code === 'string' && code !== 'Error' ? code : (e as Error).message;
}

async function hashFile(
  store: VerifiableStore,
  id: string,
  file: string,
  onBytes: (n: number) => void,
): Promise<FileDigest> {
  // Only names a slide may hold are opened; the rest cannot be in a manifest's `files` check anyway.
  if (!STORED_FILES.has(file)) throw new Error('not a file a slide holds');
  // Past any cache: what is checked is what the storage holds.
  const f = await store.open(id, file, { fresh: true });
  if (!f) throw new GoneError(file);
  try {
    const h = createHash('sha256');
    let bytes = 0;
    while (bytes < f.size) {
      const b = await f.read(bytes, Math.min(HASH_CHUNK, f.size - bytes));
      if (b.length === 0) break;
      h.update(b);
      bytes += b.length;
      onBytes(b.length);
    }
    return { sha256: h.digest('hex'), bytes };
  } finally {
    await f.close();
  }
}

async function slideBytes(store: VerifiableStore, id: string): Promise<number> {
  try {
    const files = (await store.files(id)) ?? [];
    return files.filter((f) => f.name !== MANIFEST_FILE).reduce((n, f) => n + f.bytes, 0);
  } catch {
    // Unreadable: verifySlide reports it.
    return 0;
  }
}
