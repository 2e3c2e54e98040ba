import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SourceFormat } from '../../../protocol/index.ts';
import type { Probe } from '../types.ts';

/** Which OpenSlide-only format an input is, and the file OpenSlide must be given. */
export interface OpenslideTarget {
  format: SourceFormat;
  /** Human name of the vendor format, for messages. */
  label: string;
  /** The file to hand to OpenSlide (for MIRAX the .mrxs, even when the user gave its folder). */
  file: string;
}

/** Formats only OpenSlide reads, by extension; TIFF-based ones are also recognised by content. */
const BY_EXTENSION: Record<string, { format: SourceFormat; label: string }> = {
  '.ndpi': { format: 'hamamatsu-ndpi', label: 'Hamamatsu NDPI' },
  '.mrxs': { format: 'mirax', label: '3DHISTECH MIRAX' },
  '.vms': { format: 'openslide', label: 'Hamamatsu VMS' },
  '.vmu': { format: 'openslide', label: 'Hamamatsu VMU' },
  '.scn': { format: 'openslide', label: 'Leica SCN' },
  '.bif': { format: 'openslide', label: 'Ventana BIF' },
  '.svslide': { format: 'openslide', label: 'Sakura SVSlide' },
};

/** Hamamatsu's private tag that marks every NDPI directory. */
const NDPI_FORMAT_FLAG = 65420;
const IMAGE_DESCRIPTION = 270;
const XMP = 700;
/** Enough for any scanner's first-directory description; OME-XML can be far larger but is not ours. */
const MAX_TEXT = 256 * 1024;

/** What the first TIFF directory says about the scanner that wrote it. */
export interface TiffSniff {
  ndpi: boolean;
  description: string | null;
  xmp: string | null;
}

/**
 * Read the first IFD of a classic or BigTIFF file: only the tags that tell OpenSlide-only TIFF
 * variants apart. NDPI files over 4 GiB keep 32-bit offsets (high bits live in extra tags), but the
 * first directory and its tags are enough to recognise one. Returns null for anything not TIFF.
 */
export async function sniffTiff(file: string, head: Buffer): Promise<TiffSniff | null> {
  if (head.length < 16) return null;
  const order = head.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const le = order === 'II';
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (b: Buffer, o: number): number => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  const magic = u16(head, 2);
  if (magic !== 42 && magic !== 43) return null;
  const big = magic === 43;
  const ifdOffset = big ? u64(head, 8) : u32(head, 4);
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (ifdOffset <= 0 || ifdOffset >= size) return null;
    const countBuf = Buffer.alloc(8);
    await fh.read(countBuf, 0, big ? 8 : 2, ifdOffset);
    const count = big ? u64(countBuf, 0) : u16(countBuf, 0);
    if (count === 0 || count > 4096) return null;
    const entrySize = big ? 20 : 12;
    const entries = Buffer.alloc(count * entrySize);
    const { bytesRead } = await fh.read(entries, 0, entries.length, ifdOffset + (big ? 8 : 2));
    const result: TiffSniff = { ndpi: false, description: null, xmp: null };
    for (let i = 0; i + entrySize <= bytesRead; i += entrySize) {
      const tag = u16(entries, i);
      if (tag === NDPI_FORMAT_FLAG) result.ndpi = true;
      if (tag !== IMAGE_DESCRIPTION && tag !== XMP) continue;
      const n = big ? u64(entries, i + 4) : u32(entries, i + 4);
      const inline = big ? 8 : 4;
      const valueAt = i + (big ? 12 : 8);
      let bytes: Buffer;
      if (n <= inline) {
        bytes = entries.subarray(valueAt, valueAt + n);
      } else {
        const at = big ? u64(entries, valueAt) : u32(entries, valueAt);
        bytes = Buffer.alloc(Math.min(n, MAX_TEXT));
        const r = await fh.read(bytes, 0, bytes.length, at);
        bytes = bytes.subarray(0, r.bytesRead);
      }
      const text = bytes.toString('utf8').replace(/\0+$/, '');
      if (tag === IMAGE_DESCRIPTION) result.description = text;
      else result.xmp = text;
    }
    return result;
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

/** TIFF variants OpenSlide handles and the plain TIFF readers would misread. */
function classifyTiff(s: TiffSniff): { format: SourceFormat; label: string } | null {
  if (s.ndpi) return { format: 'hamamatsu-ndpi', label: 'Hamamatsu NDPI' };
  if (s.description?.includes('leica-microsystems.com/scn'))
    return { format: 'openslide', label: 'Leica SCN' };
  if (s.xmp?.includes('<iScan')) return { format: 'openslide', label: 'Ventana BIF' };
  if (s.description?.includes('DPUfsImport')) return { format: 'openslide', label: 'Philips TIFF' };
  return null;
}

/**
 * Resolve a probe to the OpenSlide format and file it holds, or null when it is not one. A folder
 * counts when it holds exactly one .mrxs at its top level, or is itself a MIRAX data folder (holds
 * Slidedat.ini) with its .mrxs beside it.
 */
export async function resolveTarget(probe: Probe): Promise<OpenslideTarget | null> {
  if (probe.isDirectory) {
    const top = probe.files.filter((f) => path.dirname(f) === probe.path);
    const mrxs = top.filter((f) => path.extname(f).toLowerCase() === '.mrxs');
    if (mrxs.length === 1) return { format: 'mirax', label: '3DHISTECH MIRAX', file: mrxs[0]! };
    if (mrxs.length > 1) return { format: 'mirax', label: '3DHISTECH MIRAX', file: probe.path };
    if (top.some((f) => path.basename(f).toLowerCase() === 'slidedat.ini')) {
      const beside = `${probe.path}.mrxs`;
      if (await isFile(beside)) return { format: 'mirax', label: '3DHISTECH MIRAX', file: beside };
    }
    return null;
  }
  const byExt = BY_EXTENSION[probe.ext];
  if (byExt) return { ...byExt, file: probe.path };
  const sniff = await sniffTiff(probe.path, probe.head);
  const byContent = sniff ? classifyTiff(sniff) : null;
  return byContent ? { ...byContent, file: probe.path } : null;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
