import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Bad inputs, made on demand (documented in tests/README.md). Each one is a thing users really send:
 * an empty file, a cut-off transfer, a document renamed .svs, a TIFF whose header lies about its size.
 */
export function makeBadInputs(dir: string, sampleSvs: string | null): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const out: Record<string, string> = {};

  out.empty = path.join(dir, 'empty.svs');
  writeFileSync(out.empty, Buffer.alloc(0));

  out.notAnImage = path.join(dir, 'notes.svs');
  writeFileSync(out.notAnImage, 'Patient slide list\nthis is a text file, not a slide\n'.repeat(20));

  out.png = path.join(dir, 'photo.png');
  // 1x1 PNG
  writeFileSync(
    out.png,
    Buffer.from(
      '89504e470d0a1a0a0000000d49484452000000010000000108020000009077' +
        '53de0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082',
      'hex',
    ),
  );

  out.hugeHeader = path.join(dir, 'huge-header.tif');
  writeFileSync(out.hugeHeader, hugeHeaderTiff(1_000_000, 1_000_000));

  if (sampleSvs) {
    const full = readFileSync(sampleSvs);
    out.truncated = path.join(dir, 'truncated.svs');
    writeFileSync(out.truncated, full.subarray(0, Math.floor(full.length * 0.4)));
    out.spaces = path.join(dir, 'my slide (copy) [2].svs');
    copyFileSync(sampleSvs, out.spaces);
  }
  return out;
}

/** A classic little-endian TIFF header claiming width x height 8-bit gray pixels, with 1 KiB of data. */
export function hugeHeaderTiff(width: number, height: number): Buffer {
  const entries: [number, number, number, number][] = [
    [256, 4, 1, width], // ImageWidth LONG
    [257, 4, 1, height], // ImageLength
    [258, 3, 1, 8], // BitsPerSample
    [259, 3, 1, 1], // Compression none
    [262, 3, 1, 1], // BlackIsZero
    [273, 4, 1, 0], // StripOffsets (patched)
    [277, 3, 1, 1], // SamplesPerPixel
    [278, 4, 1, height], // RowsPerStrip
    [279, 4, 1, 1024], // StripByteCounts
  ];
  const ifdOffset = 8;
  const ifdSize = 2 + entries.length * 12 + 4;
  const dataOffset = ifdOffset + ifdSize;
  const buf = Buffer.alloc(dataOffset + 1024, 0x80);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(ifdOffset, 4);
  buf.writeUInt16LE(entries.length, ifdOffset);
  entries.forEach(([tag, type, count, value], i) => {
    const at = ifdOffset + 2 + i * 12;
    buf.writeUInt16LE(tag, at);
    buf.writeUInt16LE(type, at + 2);
    buf.writeUInt32LE(count, at + 4);
    const v = tag === 273 ? dataOffset : value;
    if (type === 3) buf.writeUInt16LE(v, at + 8);
    else buf.writeUInt32LE(v, at + 8);
  });
  buf.writeUInt32LE(0, ifdOffset + 2 + entries.length * 12);
  return buf;
}
