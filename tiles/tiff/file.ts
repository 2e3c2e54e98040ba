import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SlideError } from '../errors.ts';
import { settleAll } from '../settle.ts';
import {
  TAG,
  TYPE_SIZE,
  decodeTagValue,
  tiffKind,
  unsignedTable,
  type NumTable,
  type TagValue,
} from './tags.ts';

export { TAG, tiffKind, type NumTable, type TagValue };

interface Entry {
  type: number;
  count: number;
  /** Absolute offset of the value bytes (inside the IFD itself when they fit). */
  offset: number;
  value?: TagValue;
  /** The read of a lazily read value, while it runs. */
  loading?: Promise<TagValue> | undefined;
}

/** Values larger than this are read when asked for (tile offset tables of big slides run to megabytes). */
const EAGER_BYTES = 1 << 20;
/** Text tags are metadata we always need; OME-XML of a large plate can be tens of megabytes. */
const MAX_TEXT_BYTES = 256 << 20;
/** More IFDs than this (a 100-channel, 1000-plane stack) is a corrupt chain, not an image. */
const MAX_IFDS = 100_000;
const MAX_BIGTIFF_ENTRIES = 100_000;
/** Bytes read at a directory's offset in one go: its count and the entries of a usual directory. */
const IFD_GUESS_BYTES = 1024;
/** The bytes of a tile read to learn how it is coded (markers, tables, frame header). */
const HEAD_BYTES = 4096;
const LAZY_TAGS = new Set<number>([
  TAG.StripOffsets,
  TAG.StripByteCounts,
  TAG.TileOffsets,
  TAG.TileByteCounts,
]);

function isTable(v: TagValue | undefined): v is NumTable {
  return v instanceof Float64Array;
}

/** A tile table's value as a Float64Array, one kind however it was stored (see unsignedTable). */
function asTable(v: TagValue): TagValue {
  return Array.isArray(v) ? Float64Array.from(v) : v;
}

/** One image file directory: tag values and the geometry the readers need. */
export class Ifd {
  constructor(
    private readonly file: TiffFile,
    /** Position in the main IFD chain (sharp's `page`), or of the parent for a SubIFD. */
    readonly index: number,
    readonly offset: number,
    private readonly entries: Map<number, Entry>,
    /** Position among the parent's SubIFDs (sharp's `subifd`), -1 for a main-chain IFD. */
    readonly subIndex: number = -1,
  ) {}

  has(tag: number): boolean {
    return this.entries.has(tag);
  }

  /** Numeric values of an eagerly read tag, or undefined. */
  nums(tag: number): number[] | undefined {
    const v = this.entries.get(tag)?.value;
    return Array.isArray(v) ? v : undefined;
  }

  num(tag: number): number | undefined {
    return this.nums(tag)?.[0];
  }

  str(tag: number): string | undefined {
    const v = this.entries.get(tag)?.value;
    return typeof v === 'string' ? v : undefined;
  }

  bytes(tag: number): Buffer | undefined {
    const v = this.entries.get(tag)?.value;
    return Buffer.isBuffer(v) ? v : undefined;
  }

  /** Any tag's value, read from the file when it was too large to read with the directory. */
  async load(tag: number): Promise<TagValue | undefined> {
    const e = this.entries.get(tag);
    if (!e) return undefined;
    if (e.value !== undefined) return e.value;
    // One read for callers asking at the same time (the levels of a slide are checked together).
    e.loading ??= this.file.readValue(e, this.label(), tag).finally(() => {
      e.loading = undefined;
    });
    e.value = await e.loading;
    return e.value;
  }

  get width(): number {
    return this.num(TAG.ImageWidth) ?? 0;
  }
  get height(): number {
    return this.num(TAG.ImageLength) ?? 0;
  }
  get tiled(): boolean {
    return this.has(TAG.TileWidth) && this.has(TAG.TileOffsets);
  }
  get tileWidth(): number {
    return this.tiled ? (this.num(TAG.TileWidth) ?? 0) : this.width;
  }
  /** Tile height, or rows per strip for a stripped image. */
  get tileHeight(): number {
    if (this.tiled) return this.num(TAG.TileLength) ?? 0;
    return Math.min(this.num(TAG.RowsPerStrip) ?? this.height, this.height);
  }
  get compression(): number {
    return this.num(TAG.Compression) ?? 1;
  }
  get photometric(): number | undefined {
    return this.num(TAG.Photometric);
  }
  get samplesPerPixel(): number {
    return this.num(TAG.SamplesPerPixel) ?? 1;
  }
  get bitsPerSample(): number {
    return this.num(TAG.BitsPerSample) ?? 1;
  }
  /** 1 unsigned, 2 signed, 3 float. */
  get sampleFormat(): number {
    return this.num(TAG.SampleFormat) ?? 1;
  }
  get newSubfileType(): number {
    return this.num(TAG.NewSubfileType) ?? 0;
  }
  get description(): string {
    return this.str(TAG.ImageDescription) ?? '';
  }
  get software(): string {
    return this.str(TAG.Software) ?? '';
  }

  /** e.g. "IFD 3" or "SubIFD 1 of IFD 0", for messages. */
  label(): string {
    return this.subIndex < 0 ? `IFD ${this.index}` : `SubIFD ${this.subIndex} of IFD ${this.index}`;
  }

  /** Offsets and byte counts of the tiles (or strips), row-major. */
  async chunks(): Promise<{ offsets: NumTable; byteCounts: NumTable }> {
    const [ot, ct] = this.tiled
      ? [TAG.TileOffsets, TAG.TileByteCounts]
      : [TAG.StripOffsets, TAG.StripByteCounts];
    const [offsets, byteCounts] = await Promise.all([this.load(ot), this.load(ct)]);
    if (!isTable(offsets) || !isTable(byteCounts) || offsets.length !== byteCounts.length) {
      throw this.file.corrupt(`${this.label()} has no valid ${this.tiled ? 'tile' : 'strip'} offset table`);
    }
    return { offsets, byteCounts };
  }

  /**
   * The first non-empty tile (or strip) and its first `HEAD_BYTES` bytes, where its coding is
   * declared; null when every one is empty. Read once.
   */
  firstChunkHead(): Promise<{ index: number; bytes: Buffer } | null> {
    this.head ??= this.chunks().then(async ({ offsets, byteCounts }) => {
      const index = byteCounts.findIndex((n) => n > 0);
      if (index < 0) return null;
      const len = Math.min(byteCounts[index]!, HEAD_BYTES);
      const what = `${this.tiled ? 'tile' : 'strip'} ${index} of ${this.label()}`;
      return { index, bytes: await this.file.read(offsets[index]!, len, what) };
    });
    return this.head;
  }

  private head: Promise<{ index: number; bytes: Buffer } | null> | undefined;

  /**
   * Fail with TRUNCATED_FILE when image data of this directory lies past the end of the file, which is
   * what an interrupted copy or upload looks like (the directories are often at the start).
   */
  async checkData(what: string): Promise<void> {
    const { offsets, byteCounts } = await this.chunks();
    const expected = this.tiled
      ? Math.ceil(this.width / Math.max(1, this.tileWidth)) *
        Math.ceil(this.height / Math.max(1, this.tileHeight))
      : Math.ceil(this.height / Math.max(1, this.tileHeight));
    const planes = this.num(TAG.PlanarConfiguration) === 2 ? this.samplesPerPixel : 1;
    if (offsets.length < expected * planes) {
      throw this.file.corrupt(
        `${what} (${this.label()}) lists ${offsets.length} ${this.tiled ? 'tiles' : 'strips'}, expected ${expected * planes}`,
      );
    }
    let end = 0;
    for (let i = 0; i < offsets.length; i++) {
      const e = offsets[i]! + byteCounts[i]!;
      if (e > end) end = e;
    }
    if (end > this.file.size) {
      throw new SlideError(
        'TRUNCATED_FILE',
        `${this.file.name}: the pixel data of ${what} (${this.label()}) ends at byte ${end} but the file has ` +
          `only ${this.file.size} bytes; the file is truncated (incomplete copy or upload?)`,
      );
    }
  }

  /**
   * checkData of several directories, their tables read at the same time; the first failure in the
   * order given is the one thrown.
   */
  static async checkAll(list: Iterable<readonly [Ifd, string]>): Promise<void> {
    await settleAll([...list].map(([ifd, what]) => ifd.checkData(what)));
  }

  /** SubIFDs of this directory (OME-TIFF pyramid levels), in file order. */
  async subIfds(): Promise<Ifd[]> {
    const v = await this.load(TAG.SubIFDs);
    if (!Array.isArray(v)) return [];
    const out: Ifd[] = [];
    for (const [k, off] of v.entries()) out.push(await this.file.readIfd(off, this.index, k));
    return out;
  }
}

/**
 * A TIFF or BigTIFF file, its main IFD chain parsed with every offset checked against the file size,
 * so a damaged file fails with a message naming the problem instead of a decoder's stack trace.
 */
export class TiffFile {
  readonly ifds: Ifd[] = [];
  readonly name: string;
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly size: number,
    readonly littleEndian: boolean,
    readonly bigTiff: boolean,
  ) {
    this.name = path.split(/[\\/]/).pop() ?? path;
  }

  /**
   * Open and parse the IFD chain (or its first `maxIfds` directories, for a cheap look); throws
   * SlideError (NOT_AN_IMAGE, TRUNCATED_FILE, CORRUPT_FILE).
   */
  static async open(filePath: string, opts: { maxIfds?: number } = {}): Promise<TiffFile> {
    const fh = await open(filePath, 'r');
    try {
      const size = (await fh.stat()).size;
      const name = path.basename(filePath);
      if (size === 0) throw new SlideError('EMPTY_FILE', `${name}: the file is empty`);
      const head = Buffer.alloc(Math.min(16, size));
      await fh.read(head, 0, head.length, 0);
      const kind = tiffKind(head);
      if (!kind) throw new SlideError('NOT_AN_IMAGE', `${name}: not a TIFF file (no TIFF header)`);
      if (size < (kind.bigTiff ? 16 : 8)) {
        throw new SlideError(
          'TRUNCATED_FILE',
          `${name}: the file ends inside the TIFF header (${size} bytes)`,
        );
      }
      const tf = new TiffFile(filePath, fh, size, kind.littleEndian, kind.bigTiff);
      let next = kind.bigTiff ? tf.u64(head, 8) : tf.u32(head, 4);
      const seen = new Set<number>();
      // Each directory's values outside it are read while the chain is followed.
      const values: Promise<void>[] = [];
      while (next !== 0 && tf.ifds.length < (opts.maxIfds ?? Infinity)) {
        if (seen.has(next)) throw tf.corrupt(`the IFD chain loops back to offset ${next}`);
        if (seen.size >= MAX_IFDS) throw tf.corrupt(`more than ${MAX_IFDS} IFDs`);
        seen.add(next);
        const ifd = await tf.readIfd(next, tf.ifds.length, -1, values);
        tf.ifds.push(ifd);
        next = tf.nextOffsets.get(ifd) ?? 0;
      }
      await settleAll(values);
      if (tf.ifds.length === 0) throw tf.corrupt('the file holds no image directory');
      return tf;
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  private readonly nextOffsets = new WeakMap<Ifd, number>();

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }

  corrupt(what: string): SlideError {
    return new SlideError('CORRUPT_FILE', `${this.name}: corrupt TIFF: ${what}`);
  }

  private truncated(what: string, end: number): SlideError {
    return new SlideError(
      'TRUNCATED_FILE',
      `${this.name}: ${what} ends at byte ${end} but the file has only ${this.size} bytes; the file is truncated`,
    );
  }

  /** Read bytes that must lie inside the file. */
  async read(offset: number, length: number, what = 'data'): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0)
      throw this.corrupt(`${what} has a bad offset`);
    if (offset + length > this.size) throw this.truncated(`${what} at offset ${offset}`, offset + length);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw this.truncated(`${what} at offset ${offset}`, offset + length);
      done += bytesRead;
    }
    return buf;
  }

  /**
   * Parse the IFD at `offset`; `sub` >= 0 marks a SubIFD of main IFD `index`. With `values`, the
   * reads of its values stored outside the directory are left there for the caller to await.
   */
  async readIfd(offset: number, index: number, sub: number, values?: Promise<void>[]): Promise<Ifd> {
    const label = sub < 0 ? `IFD ${index}` : `SubIFD ${sub} of IFD ${index}`;
    const countSize = this.bigTiff ? 8 : 2;
    const entrySize = this.bigTiff ? 20 : 12;
    // The count and, in the same read, as many entries as a directory usually has.
    const head = await this.read(
      offset,
      Math.max(countSize, Math.min(IFD_GUESS_BYTES, this.size - offset)),
      label,
    );
    const n = this.bigTiff ? this.u64(head, 0) : this.u16(head, 0);
    if (n === 0 || n > MAX_BIGTIFF_ENTRIES) throw this.corrupt(`${label} claims ${n} entries`);
    const bodyBytes = n * entrySize + (this.bigTiff ? 8 : 4);
    const body =
      countSize + bodyBytes <= head.length
        ? head.subarray(countSize, countSize + bodyBytes)
        : await this.read(offset + countSize, bodyBytes, label);
    const entries = new Map<number, Entry>();
    const inlineSize = this.bigTiff ? 8 : 4;
    /** Values outside the directory read now, all at once. */
    const eager: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const at = i * entrySize;
      const tag = this.u16(body, at);
      const type = this.u16(body, at + 2);
      const count = this.bigTiff ? this.u64(body, at + 4) : this.u32(body, at + 4);
      const itemSize = TYPE_SIZE[type];
      if (itemSize === undefined) continue; // unknown types are allowed by the spec: skip them
      const bytes = itemSize * count;
      const valueAt = at + (this.bigTiff ? 12 : 8);
      const inline = bytes <= inlineSize;
      const dataOffset = inline
        ? offset + countSize + valueAt
        : this.bigTiff
          ? this.u64(body, valueAt)
          : this.u32(body, valueAt);
      const entry: Entry = { type, count, offset: dataOffset };
      if (inline) {
        const v = decodeTagValue(body.subarray(valueAt, valueAt + bytes), type, count, this.littleEndian);
        entry.value = LAZY_TAGS.has(tag) ? asTable(v) : v;
      } else if (!LAZY_TAGS.has(tag) && (bytes <= EAGER_BYTES || (type === 2 && bytes <= MAX_TEXT_BYTES))) {
        eager.push(
          this.readValue(entry, label, tag).then((v) => {
            entry.value = v;
          }),
        );
      }
      entries.set(tag, entry);
    }
    if (values) values.push(...eager);
    else await settleAll(eager);
    const ifd = new Ifd(this, index, offset, entries, sub);
    this.nextOffsets.set(ifd, this.bigTiff ? this.u64(body, n * entrySize) : this.u32(body, n * entrySize));
    return ifd;
  }

  /** @internal */
  async readValue(e: Entry, label: string, tag: number): Promise<TagValue> {
    const bytes = (TYPE_SIZE[e.type] ?? 1) * e.count;
    const buf = await this.read(e.offset, bytes, `tag ${tag} of ${label}`);
    if (!LAZY_TAGS.has(tag)) return decodeTagValue(buf, e.type, e.count, this.littleEndian);
    return (
      unsignedTable(buf, e.type, e.count, this.littleEndian) ??
      asTable(decodeTagValue(buf, e.type, e.count, this.littleEndian))
    );
  }

  u16(b: Buffer, at: number): number {
    return this.littleEndian ? b.readUInt16LE(at) : b.readUInt16BE(at);
  }
  u32(b: Buffer, at: number): number {
    return this.littleEndian ? b.readUInt32LE(at) : b.readUInt32BE(at);
  }
  u64(b: Buffer, at: number): number {
    return Number(this.littleEndian ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at));
  }
}
