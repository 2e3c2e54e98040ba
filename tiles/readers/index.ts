import { SlideError, isSlideError, noSpaceError } from '../errors.ts';
import { cziReader } from './czi/index.ts';
import { dicomReader } from './dicom/index.ts';
import { openslideReader } from './openslide/index.ts';
import { describeForeign, looksLikeTiff, probe } from './probe.ts';
import { tiffReaders } from './tiff/index.ts';
import type { OpenOptions, Probe, SlideReader, SlideSource } from './types.ts';

export type { Probe, SlideReader, SlideSource, SourceLevel, PixelContext, OpenOptions } from './types.ts';
export { probe } from './probe.ts';

/** Every format family, most specific first when priorities tie. */
export const READERS: readonly SlideReader[] = [...tiffReaders, dicomReader, cziReader, openslideReader].sort(
  (a, b) => b.priority - a.priority,
);

/** The reader that claims this input, or a SlideError saying why none does. */
export async function detectReader(p: Probe): Promise<SlideReader> {
  for (const reader of READERS) {
    let claimed = false;
    try {
      claimed = await reader.detect(p);
    } catch {
      claimed = false;
    }
    if (claimed) return reader;
  }
  const what = describeForeign(p.head);
  if (what)
    throw new SlideError('UNSUPPORTED_FORMAT', `${what}, not a whole-slide image format Tessera reads`);
  if (looksLikeTiff(p.head))
    throw new SlideError('UNSUPPORTED_FORMAT', 'a TIFF variant no reader recognises');
  if (p.isDirectory)
    throw new SlideError('UNSUPPORTED_FORMAT', 'folder holds no DICOM series or MIRAX slide');
  throw new SlideError('NOT_AN_IMAGE', 'not an image file: its content matches no known format');
}

/**
 * Open a slide file or folder with the reader that recognises it. Errors are SlideErrors with a code
 * and a one-line reason; unexpected failures inside a reader are reported as a corrupt file.
 */
export async function openSlide(input: string, opts: OpenOptions = {}): Promise<SlideSource> {
  const p = await probe(input);
  const reader = await detectReader(p);
  try {
    return await reader.open(p, opts);
  } catch (e) {
    throw asSlideError(e);
  }
}

/** Map an unknown failure (libvips, a parser) to a one-line CORRUPT_FILE error. */
export function asSlideError(e: unknown): SlideError {
  if (isSlideError(e)) return e;
  const full = noSpaceError(e);
  if (full) return full;
  const raw = e instanceof Error ? e.message : String(e);
  const line =
    raw
      .split('\n')
      .map((s) => s.trim())
      .find((s) => s.length > 0) ?? 'unreadable';
  return new SlideError('CORRUPT_FILE', `cannot read slide: ${line}`, { cause: e });
}
