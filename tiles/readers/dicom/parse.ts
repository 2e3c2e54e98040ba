import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { SlideError } from '../../errors.ts';

/** Transfer syntaxes whose data set is explicit VR little endian (all encapsulated ones are). */
export const TS_IMPLICIT_LE = '1.2.840.10008.1.2';
export const TS_EXPLICIT_LE = '1.2.840.10008.1.2.1';
const TS_EXPLICIT_BE = '1.2.840.10008.1.2.2';
const TS_DEFLATED = '1.2.840.10008.1.2.1.99';

/** A (group, element) tag as one unsigned 32-bit number, the key of every data set map. */
export const tag = (group: number, element: number): number => ((group << 16) | element) >>> 0;

const ITEM = tag(0xfffe, 0xe000);
const ITEM_END = tag(0xfffe, 0xe00d);
const SEQUENCE_END = tag(0xfffe, 0xe0dd);
const PIXEL_DATA = tag(0x7fe0, 0x0010);
const UNDEFINED = 0xffffffff;

/** VRs whose explicit header carries a 4-byte length after two reserved bytes. */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/**
 * Implicit VR data sets carry no VRs: these are the tags this reader interprets. Tags not listed are kept
 * as opaque bytes (or parsed as a sequence when their length is undefined), which is all they need.
 */
const IMPLICIT_VRS = new Map<number, string>([
  [tag(0x0002, 0x0010), 'UI'],
  [tag(0x0008, 0x0008), 'CS'],
  [tag(0x0008, 0x0016), 'UI'],
  [tag(0x0008, 0x0018), 'UI'],
  [tag(0x0008, 0x0060), 'CS'],
  [tag(0x0008, 0x0070), 'LO'],
  [tag(0x0008, 0x1090), 'LO'],
  [tag(0x0018, 0x1000), 'LO'],
  [tag(0x0018, 0x1020), 'LO'],
  [tag(0x0020, 0x000d), 'UI'],
  [tag(0x0020, 0x000e), 'UI'],
  [tag(0x0020, 0x0013), 'IS'],
  [tag(0x0020, 0x9161), 'UI'],
  [tag(0x0020, 0x9228), 'UL'],
  [tag(0x0020, 0x9311), 'CS'],
  [tag(0x0028, 0x0002), 'US'],
  [tag(0x0028, 0x0004), 'CS'],
  [tag(0x0028, 0x0006), 'US'],
  [tag(0x0028, 0x0008), 'IS'],
  [tag(0x0028, 0x0010), 'US'],
  [tag(0x0028, 0x0011), 'US'],
  [tag(0x0028, 0x0030), 'DS'],
  [tag(0x0028, 0x0100), 'US'],
  [tag(0x0028, 0x0101), 'US'],
  [tag(0x0028, 0x0103), 'US'],
  [tag(0x0028, 0x2110), 'CS'],
  [tag(0x0040, 0x0512), 'LO'],
  [tag(0x0040, 0x074a), 'DS'],
  [tag(0x0048, 0x0001), 'FL'],
  [tag(0x0048, 0x0002), 'FL'],
  [tag(0x0048, 0x0006), 'UL'],
  [tag(0x0048, 0x0007), 'UL'],
  [tag(0x0048, 0x0106), 'SH'],
  [tag(0x0048, 0x0112), 'DS'],
  [tag(0x0048, 0x021e), 'SL'],
  [tag(0x0048, 0x021f), 'SL'],
  [tag(0x0048, 0x0302), 'UL'],
  [tag(0x0048, 0x0303), 'UL'],
  [tag(0x7fe0, 0x0001), 'OV'],
  [tag(0x7fe0, 0x0002), 'OV'],
  // Sequences with a defined length must be known to be walked into.
  [tag(0x0020, 0x9111), 'SQ'],
  [tag(0x0020, 0x9221), 'SQ'],
  [tag(0x0020, 0x9222), 'SQ'],
  [tag(0x0028, 0x9110), 'SQ'],
  [tag(0x0040, 0x0560), 'SQ'],
  [tag(0x0048, 0x0008), 'SQ'],
  [tag(0x0048, 0x0105), 'SQ'],
  [tag(0x0048, 0x0207), 'SQ'],
  [tag(0x0048, 0x021a), 'SQ'],
  [tag(0x0088, 0x0200), 'SQ'],
  [tag(0x5200, 0x9229), 'SQ'],
  [tag(0x5200, 0x9230), 'SQ'],
]);

export interface DicomElement {
  vr: string;
  /** Raw value bytes (little endian); absent for sequences. */
  value?: Buffer;
  items?: DicomDataset[];
}

/** A parsed data set; values stay raw bytes until asked for. */
export class DicomDataset {
  readonly elements = new Map<number, DicomElement>();

  has(t: number): boolean {
    return this.elements.has(t);
  }

  /** All values of a string element, trimmed; [] when absent. */
  strings(t: number): string[] {
    const e = this.elements.get(t);
    if (!e?.value) return [];
    const text = e.value.toString('latin1').replace(/[\0 ]+$/, '');
    if (text === '') return [];
    return text.split('\\').map((s) => s.trim());
  }

  string(t: number): string | null {
    return this.strings(t)[0] ?? null;
  }

  /** Numeric values whatever the VR (binary or decimal/integer string); [] when absent. */
  numbers(t: number): number[] {
    const e = this.elements.get(t);
    if (!e?.value) return [];
    const v = e.value;
    const read = (size: number, fn: (at: number) => number): number[] => {
      const out: number[] = [];
      for (let at = 0; at + size <= v.length; at += size) out.push(fn(at));
      return out;
    };
    switch (e.vr) {
      case 'US':
        return read(2, (at) => v.readUInt16LE(at));
      case 'SS':
        return read(2, (at) => v.readInt16LE(at));
      case 'UL':
        return read(4, (at) => v.readUInt32LE(at));
      case 'SL':
        return read(4, (at) => v.readInt32LE(at));
      case 'FL':
        return read(4, (at) => v.readFloatLE(at));
      case 'FD':
        return read(8, (at) => v.readDoubleLE(at));
      case 'UV':
      case 'OV':
        return read(8, (at) => Number(v.readBigUInt64LE(at)));
      case 'SV':
        return read(8, (at) => Number(v.readBigInt64LE(at)));
      default:
        return this.strings(t)
          .map((s) => Number(s))
          .filter((n) => Number.isFinite(n));
    }
  }

  number(t: number): number | null {
    return this.numbers(t)[0] ?? null;
  }

  /** Items of a sequence; [] when absent. */
  items(t: number): DicomDataset[] {
    return this.elements.get(t)?.items ?? [];
  }

  /** First item of a nested chain of sequences, e.g. SharedFunctionalGroups > PixelMeasures. */
  first(...tags: number[]): DicomDataset | null {
    const [head, ...rest] = tags;
    if (head === undefined) return this;
    const item = this.items(head)[0];
    return item ? item.first(...rest) : null;
  }
}

export interface Fragment {
  offset: number;
  length: number;
}

/** Where the pixel data of a top-level Pixel Data element lies in the file; nothing is read. */
export type PixelDataLocation =
  | { encapsulated: false; offset: number; length: number }
  | { encapsulated: true; basicOffsetTable: number[]; fragments: Fragment[] };

export interface ParsedDicom {
  file: string;
  fileSize: number;
  transferSyntax: string;
  meta: DicomDataset;
  dataset: DicomDataset;
  pixelData: PixelDataLocation | null;
}

class NeedMore extends Error {}
class PixelDataReached extends Error {
  constructor(
    readonly valueOffset: number,
    readonly length: number,
  ) {
    super('pixel data');
  }
}

/** A cursor over the part of the file read so far; running past its end asks for more. */
class Cursor {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly fileSize: number,
    readonly file: string,
  ) {}

  need(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.buf.length < this.fileSize) throw new NeedMore();
    throw truncated(this.file);
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  atEnd(): boolean {
    return this.pos >= this.buf.length && this.buf.length >= this.fileSize;
  }
}

function truncated(file: string): SlideError {
  return new SlideError('TRUNCATED_FILE', `DICOM file ${path.basename(file)} ends in the middle of its data`);
}

function corrupt(file: string, what: string): SlideError {
  return new SlideError('CORRUPT_FILE', `DICOM file ${path.basename(file)} is corrupt: ${what}`);
}

interface ParseState {
  explicit: boolean;
  file: string;
}

/** Read one element header; delimiters (group FFFE) come back with an empty VR. */
function readHeader(c: Cursor, st: ParseState): { t: number; vr: string; length: number } {
  const group = c.u16();
  const element = c.u16();
  const t = tag(group, element);
  if (group === 0xfffe) return { t, vr: '', length: c.u32() };
  if (st.explicit) {
    c.need(2);
    const vr = c.buf.toString('latin1', c.pos, c.pos + 2);
    c.pos += 2;
    if (!/^[A-Z]{2}$/.test(vr)) throw corrupt(st.file, `bad VR at byte ${c.pos - 2}`);
    if (LONG_VRS.has(vr)) {
      c.pos += 2;
      return { t, vr, length: c.u32() };
    }
    return { t, vr, length: c.u16() };
  }
  const length = c.u32();
  const known = IMPLICIT_VRS.get(t);
  const vr = known ?? (length === UNDEFINED ? (t === PIXEL_DATA ? 'OB' : 'SQ') : 'UN');
  return { t, vr, length };
}

function parseItems(c: Cursor, st: ParseState, length: number, depth: number): DicomDataset[] {
  const items: DicomDataset[] = [];
  const end = length === UNDEFINED ? Infinity : c.pos + length;
  while (c.pos < end) {
    const group = c.u16();
    const element = c.u16();
    const itemLength = c.u32();
    const t = tag(group, element);
    if (t === SEQUENCE_END) break;
    if (t !== ITEM) throw corrupt(st.file, `expected a sequence item at byte ${c.pos - 8}`);
    const ds = new DicomDataset();
    parseElements(c, st, ds, itemLength === UNDEFINED ? Infinity : c.pos + itemLength, depth + 1);
    items.push(ds);
  }
  return items;
}

/** Skip encapsulated data nested below the top level (icon images): a run of items up to its delimiter. */
function skipFragments(c: Cursor): void {
  for (;;) {
    const t = tag(c.u16(), c.u16());
    const len = c.u32();
    if (t === SEQUENCE_END) return;
    c.need(len);
    c.pos += len;
  }
}

function parseElements(c: Cursor, st: ParseState, ds: DicomDataset, end: number, depth: number): void {
  while (c.pos < end) {
    if (depth === 0 && c.atEnd()) return;
    const { t, vr, length } = readHeader(c, st);
    if (t === ITEM_END) return;
    if (t === PIXEL_DATA && depth === 0) throw new PixelDataReached(c.pos, length);
    const isSequence = vr === 'SQ' || (vr === 'UN' && length === UNDEFINED);
    if (isSequence) {
      // An undefined-length UN element is an implicit VR little endian sequence (PS3.5 6.2.2).
      const inner = vr === 'UN' ? { ...st, explicit: false } : st;
      ds.elements.set(t, { vr: 'SQ', items: parseItems(c, inner, length, depth) });
    } else if (length === UNDEFINED) {
      skipFragments(c);
    } else {
      ds.elements.set(t, { vr, value: c.bytes(length) });
    }
  }
}

/** Read whether a file starts with the DICOM preamble and magic ('DICM' at byte 128). */
export function hasDicomMagic(head: Buffer): boolean {
  return head.length >= 132 && head.toString('latin1', 128, 132) === 'DICM';
}

/**
 * Most bytes read before the pixel data. A slide's header is kilobytes to a few megabytes (a
 * TILED_SPARSE instance's per-frame positions for 500,000 frames ~100 MB); a file whose elements
 * run on further is refused rather than read into memory whole.
 */
export const MAX_HEADER_BYTES = 256 * 1024 * 1024;

/**
 * Parse a DICOM Part 10 file up to its top-level Pixel Data, whose location (and fragments, for
 * encapsulated transfer syntaxes) is recorded without reading it. The header is read in growing
 * chunks, so a multi-gigabyte instance costs little more than its header, and never more than
 * `maxHeaderBytes` of it.
 */
export async function parseDicomFile(file: string, maxHeaderBytes = MAX_HEADER_BYTES): Promise<ParsedDicom> {
  const fh = await open(file, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    if (fileSize === 0) throw new SlideError('EMPTY_FILE', `DICOM file ${path.basename(file)} is empty`);
    const limit = Math.min(fileSize, maxHeaderBytes);
    let chunk = Math.min(limit, 256 * 1024);
    for (;;) {
      const buf = Buffer.alloc(chunk);
      const { bytesRead } = await fh.read(buf, 0, chunk, 0);
      try {
        return parseBuffer(file, buf.subarray(0, bytesRead), fileSize);
      } catch (e) {
        if (!(e instanceof NeedMore) || chunk >= fileSize) throw e;
        if (chunk >= limit)
          throw corrupt(
            file,
            `its attributes run past ${maxHeaderBytes >= 1024 * 1024 ? `${Math.round(maxHeaderBytes / 1024 / 1024)} MB` : `${maxHeaderBytes} bytes`} before the pixel data`,
          );
        chunk = Math.min(limit, chunk * 4);
      }
    }
  } finally {
    await fh.close();
  }
}

function parseBuffer(file: string, buf: Buffer, fileSize: number): ParsedDicom {
  if (!hasDicomMagic(buf)) {
    if (fileSize < 132) throw truncated(file);
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `${path.basename(file)} is not a DICOM Part 10 file (no DICM magic)`,
    );
  }
  const c = new Cursor(buf, fileSize, file);
  c.pos = 132;
  // File meta information: always explicit VR little endian, group 0002.
  const meta = new DicomDataset();
  const metaState: ParseState = { explicit: true, file };
  while (!c.atEnd()) {
    c.need(2);
    if (c.buf.readUInt16LE(c.pos) !== 0x0002) break;
    const { t, vr, length } = readHeader(c, metaState);
    if (length === UNDEFINED) throw corrupt(file, 'undefined length in file meta information');
    meta.elements.set(t, { vr, value: c.bytes(length) });
  }
  const transferSyntax = meta.string(tag(0x0002, 0x0010));
  if (!transferSyntax) throw corrupt(file, 'no transfer syntax in file meta information');
  if (transferSyntax === TS_EXPLICIT_BE || transferSyntax === TS_DEFLATED) {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `DICOM transfer syntax ${transferSyntax} (${transferSyntax === TS_DEFLATED ? 'deflated' : 'big endian'}) is not supported`,
    );
  }
  const st: ParseState = { explicit: transferSyntax !== TS_IMPLICIT_LE, file };
  const dataset = new DicomDataset();
  let pixelData: PixelDataLocation | null = null;
  try {
    parseElements(c, st, dataset, Infinity, 0);
  } catch (e) {
    if (!(e instanceof PixelDataReached)) throw e;
    pixelData =
      e.length === UNDEFINED
        ? scanFragments(file, e.valueOffset, fileSize)
        : { encapsulated: false, offset: e.valueOffset, length: e.length };
    if (!pixelData.encapsulated && pixelData.offset + pixelData.length > fileSize) throw truncated(file);
  }
  return { file, fileSize, transferSyntax, meta, dataset, pixelData };
}

/**
 * Walk the item headers of encapsulated pixel data. Only the 8-byte headers are read (through a small
 * window that is refilled where the next header lies), so frames are never loaded here.
 */
function scanFragments(file: string, start: number, fileSize: number): PixelDataLocation {
  const fd = openSync(file, 'r');
  try {
    const window = Buffer.alloc(64 * 1024);
    let winStart = -1;
    let winLength = 0;
    const header = (at: number): [number, number] => {
      if (at + 8 > fileSize) throw truncated(file);
      if (winStart < 0 || at < winStart || at + 8 > winStart + winLength) {
        winLength = readSync(fd, window, 0, window.length, at);
        winStart = at;
      }
      const o = at - winStart;
      return [tag(window.readUInt16LE(o), window.readUInt16LE(o + 2)), window.readUInt32LE(o + 4)];
    };
    let pos = start;
    let basicOffsetTable: number[] | null = null;
    const fragments: Fragment[] = [];
    for (;;) {
      const [t, len] = header(pos);
      pos += 8;
      if (t === SEQUENCE_END) break;
      if (t !== ITEM || len === UNDEFINED) throw corrupt(file, `bad pixel data fragment at byte ${pos - 8}`);
      if (pos + len > fileSize) throw truncated(file);
      if (basicOffsetTable === null) {
        const table = Buffer.alloc(len);
        if (len > 0) readSync(fd, table, 0, len, pos);
        basicOffsetTable = [];
        for (let i = 0; i + 4 <= len; i += 4) basicOffsetTable.push(table.readUInt32LE(i));
      } else {
        fragments.push({ offset: pos, length: len });
      }
      pos += len;
    }
    return { encapsulated: true, basicOffsetTable: basicOffsetTable ?? [], fragments };
  } finally {
    closeSync(fd);
  }
}
