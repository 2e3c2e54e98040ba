import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SlideError } from '../../errors.ts';

/** Every CZI segment starts with this 32-byte header: a 16-byte id, allocated size, used size. */
const SEGMENT_HEADER = 32;
export const CZI_MAGIC = 'ZISRAWFILE';

export const PIXEL_TYPES: Record<number, { name: string; bytes: number } | undefined> = {
  0: { name: 'Gray8', bytes: 1 },
  1: { name: 'Gray16', bytes: 2 },
  2: { name: 'Gray32Float', bytes: 4 },
  3: { name: 'Bgr24', bytes: 3 },
  4: { name: 'Bgr48', bytes: 6 },
  8: { name: 'Bgr96Float', bytes: 12 },
  9: { name: 'Bgra32', bytes: 4 },
  10: { name: 'Gray64ComplexFloat', bytes: 16 },
  11: { name: 'Bgr192ComplexFloat', bytes: 48 },
  12: { name: 'Gray32', bytes: 4 },
  13: { name: 'Gray64', bytes: 8 },
};

export const COMPRESSIONS: Record<number, string | undefined> = {
  0: 'uncompressed',
  1: 'JPEG',
  2: 'LZW',
  4: 'JPEG XR',
  5: 'zstd',
  6: 'zstd (with header)',
};

export interface Dimension {
  start: number;
  size: number;
  storedSize: number;
}

/** One subblock as the directory lists it. */
export interface SubblockEntry {
  pixelType: number;
  filePosition: number;
  compression: number;
  pyramidType: number;
  dims: Map<string, Dimension>;
}

export interface Attachment {
  name: string;
  contentType: string;
  filePosition: number;
}

function truncated(file: string, what: string): SlideError {
  return new SlideError('TRUNCATED_FILE', `CZI file ${path.basename(file)} ends before its ${what}`);
}

function corrupt(file: string, what: string): SlideError {
  return new SlideError('CORRUPT_FILE', `CZI file ${path.basename(file)} is corrupt: ${what}`);
}

/**
 * A CZI (ZISRAW) container. `base` is where the container starts in the file: attachments such as the
 * slide label are whole CZI files embedded in the outer one, with positions relative to their start.
 */
export class CziFile {
  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    private readonly ownsHandle: boolean,
    readonly base: number,
    readonly size: number,
    readonly directoryPosition: number,
    readonly metadataPosition: number,
    readonly attachmentDirectoryPosition: number,
  ) {}

  /** Open and check the file header; throws a SlideError for anything but a single-part CZI. */
  static async open(
    file: string,
    embedded?: { fh: FileHandle; base: number; size: number },
  ): Promise<CziFile> {
    const fh = embedded?.fh ?? (await open(file, 'r'));
    try {
      const base = embedded?.base ?? 0;
      const size = embedded?.size ?? (await fh.stat()).size;
      if (size === 0) throw new SlideError('EMPTY_FILE', `CZI file ${path.basename(file)} is empty`);
      const head = Buffer.alloc(SEGMENT_HEADER + 80);
      const { bytesRead } = await fh.read(head, 0, head.length, base);
      if (bytesRead < 16 || head.toString('latin1', 0, 10) !== CZI_MAGIC) {
        throw new SlideError(
          'UNSUPPORTED_FORMAT',
          `${path.basename(file)} is not a CZI file (no ZISRAWFILE header)`,
        );
      }
      if (bytesRead < head.length) throw truncated(file, 'file header');
      const d = SEGMENT_HEADER;
      const major = head.readInt32LE(d);
      const primary = head.subarray(d + 16, d + 32);
      const own = head.subarray(d + 32, d + 48);
      const filePart = head.readInt32LE(d + 48);
      if (major !== 1)
        throw new SlideError(
          'UNSUPPORTED_FORMAT',
          `CZI file ${path.basename(file)} has format version ${major}, not 1`,
        );
      if (filePart !== 0 || !primary.equals(own)) {
        throw new SlideError(
          'UNSUPPORTED_FORMAT',
          `${path.basename(file)} is one part of a multi-file CZI, which is not supported`,
        );
      }
      const czi = new CziFile(
        file,
        fh,
        !embedded,
        base,
        size,
        Number(head.readBigInt64LE(d + 52)),
        Number(head.readBigInt64LE(d + 60)),
        Number(head.readBigInt64LE(d + 72)),
      );
      if (czi.directoryPosition <= 0) throw corrupt(file, 'no subblock directory');
      return czi;
    } catch (e) {
      if (!embedded) await fh.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.ownsHandle) await this.fh.close();
  }

  /** Read `length` bytes at a container-relative position, failing as truncated past the end. */
  async read(position: number, length: number, what: string): Promise<Buffer> {
    if (position < 0 || position + length > this.size) throw truncated(this.file, what);
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.fh.read(buf, 0, length, this.base + position);
    if (bytesRead !== length) throw truncated(this.file, what);
    return buf;
  }

  private async segment(position: number, id: string): Promise<{ used: number; allocated: number }> {
    const h = await this.read(position, SEGMENT_HEADER, `${id} segment`);
    const got = h.toString('latin1', 0, 16).replace(/\0+$/, '');
    if (got !== id)
      throw corrupt(
        this.file,
        `expected ${id} at byte ${position}, found '${got.replace(/[^\x20-\x7e]/g, '?')}'`,
      );
    return { allocated: Number(h.readBigInt64LE(16)), used: Number(h.readBigInt64LE(24)) };
  }

  /** The subblock directory. */
  async directory(): Promise<SubblockEntry[]> {
    const pos = this.directoryPosition;
    const seg = await this.segment(pos, 'ZISRAWDIRECTORY');
    // Some writers leave UsedSize at 0, meaning "all of it".
    const used = seg.used > 0 ? seg.used : seg.allocated;
    const head = await this.read(pos + SEGMENT_HEADER, 128, 'subblock directory');
    const count = head.readInt32LE(0);
    if (count < 0 || count > 50_000_000) throw corrupt(this.file, `directory claims ${count} subblocks`);
    const entries: SubblockEntry[] = [];
    // Entries vary in size (their dimension count): read the whole segment, parse sequentially.
    const start = pos + SEGMENT_HEADER + 128;
    const bytes = Math.max(0, Math.min(used - 128, this.size - start));
    const buf = await this.read(start, bytes, 'subblock directory');
    let at = 0;
    for (let i = 0; i < count; i++) {
      if (at + 32 > buf.length) throw truncated(this.file, 'subblock directory');
      const e = parseEntry(buf, at, this.file);
      entries.push(e.entry);
      at += e.length;
    }
    return entries;
  }

  /** Where a subblock's pixel data lies (container-relative) and how long it is. */
  async subblockData(entry: SubblockEntry): Promise<{ offset: number; length: number }> {
    const pos = entry.filePosition;
    const h = await this.read(pos, SEGMENT_HEADER + 16 + 32, 'subblock header');
    const id = h.toString('latin1', 0, 16).replace(/\0+$/, '');
    if (id !== 'ZISRAWSUBBLOCK')
      throw corrupt(this.file, `directory points at '${id.replace(/[^\x20-\x7e]/g, '?')}', not a subblock`);
    const metadataSize = h.readInt32LE(SEGMENT_HEADER);
    const dataSize = Number(h.readBigInt64LE(SEGMENT_HEADER + 8));
    const dimCount = h.readInt32LE(SEGMENT_HEADER + 16 + 28);
    if (metadataSize < 0 || dataSize < 0 || dimCount < 0 || dimCount > 64)
      throw corrupt(this.file, 'bad subblock header');
    const entrySize = 32 + dimCount * 20;
    const offset = pos + SEGMENT_HEADER + Math.max(256, 16 + entrySize) + metadataSize;
    if (offset + dataSize > this.size) throw truncated(this.file, 'subblock data');
    return { offset, length: dataSize };
  }

  /** The XML metadata document, or '' when the file has none. */
  async metadataXml(): Promise<string> {
    if (this.metadataPosition <= 0) return '';
    await this.segment(this.metadataPosition, 'ZISRAWMETADATA');
    const head = await this.read(this.metadataPosition + SEGMENT_HEADER, 8, 'metadata');
    const xmlSize = head.readInt32LE(0);
    if (xmlSize < 0) throw corrupt(this.file, 'negative metadata size');
    const xml = await this.read(this.metadataPosition + SEGMENT_HEADER + 256, xmlSize, 'metadata');
    return xml.toString('utf8');
  }

  async attachments(): Promise<Attachment[]> {
    const pos = this.attachmentDirectoryPosition;
    if (pos <= 0) return [];
    await this.segment(pos, 'ZISRAWATTDIR');
    const count = (await this.read(pos + SEGMENT_HEADER, 4, 'attachment directory')).readInt32LE(0);
    if (count < 0 || count > 100_000)
      throw corrupt(this.file, `attachment directory claims ${count} entries`);
    const buf = await this.read(pos + SEGMENT_HEADER + 256, count * 128, 'attachment directory');
    const out: Attachment[] = [];
    for (let i = 0; i < count; i++) {
      const e = buf.subarray(i * 128, (i + 1) * 128);
      out.push({
        filePosition: Number(e.readBigInt64LE(12)),
        contentType: e.toString('latin1', 40, 48).replace(/\0.*$/s, ''),
        name: e.toString('latin1', 48, 128).replace(/\0.*$/s, ''),
      });
    }
    return out;
  }

  /** The data of an attachment: its position and length inside this container. */
  async attachmentData(a: Attachment): Promise<{ offset: number; length: number }> {
    await this.segment(a.filePosition, 'ZISRAWATTACH');
    const size = (await this.read(a.filePosition + SEGMENT_HEADER, 4, 'attachment')).readInt32LE(0);
    const offset = a.filePosition + SEGMENT_HEADER + 256;
    if (size < 0 || offset + size > this.size) throw truncated(this.file, `attachment ${a.name}`);
    return { offset, length: size };
  }

  /** An embedded CZI (label, slide preview) as a container of its own. */
  openEmbedded(offset: number, length: number): Promise<CziFile> {
    return CziFile.open(this.file, { fh: this.fh, base: this.base + offset, size: length });
  }
}

function parseEntry(buf: Buffer, at: number, file: string): { entry: SubblockEntry; length: number } {
  if (buf.toString('latin1', at, at + 2) !== 'DV') throw corrupt(file, 'directory entry is not of schema DV');
  const dimCount = buf.readInt32LE(at + 28);
  if (dimCount < 0 || dimCount > 64) throw corrupt(file, `directory entry with ${dimCount} dimensions`);
  if (at + 32 + dimCount * 20 > buf.length) throw truncated(file, 'subblock directory');
  const dims = new Map<string, Dimension>();
  for (let k = 0; k < dimCount; k++) {
    const d = at + 32 + k * 20;
    const name = buf.toString('latin1', d, d + 4).replace(/\0.*$/s, '');
    dims.set(name, {
      start: buf.readInt32LE(d + 4),
      size: buf.readInt32LE(d + 8),
      storedSize: buf.readInt32LE(d + 16),
    });
  }
  return {
    entry: {
      pixelType: buf.readInt32LE(at + 2),
      filePosition: Number(buf.readBigInt64LE(at + 6)),
      compression: buf.readInt32LE(at + 18),
      pyramidType: buf.readUInt8(at + 22),
      dims,
    },
    length: 32 + dimCount * 20,
  };
}
