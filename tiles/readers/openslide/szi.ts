import { inflateRawSync } from 'node:zlib';

/**
 * The few entries Tessera needs from a small ZIP (an SZI written by `vips dzsave`): name -> bytes.
 * Sizes come from the central directory because dzsave streams entries with data descriptors, so
 * local headers carry zero sizes. Only stored and deflated entries occur there.
 */
export function readZip(zip: Buffer): Map<string, Buffer> {
  const eocd = findEocd(zip);
  if (eocd < 0) throw new Error('not a ZIP archive (no end of central directory)');
  let count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  // libarchive (behind dzsave) writes ZIP64 records even for small archives.
  const locator = eocd - 20;
  if (locator >= 0 && zip.readUInt32LE(locator) === 0x07064b50) {
    const z64 = Number(zip.readBigUInt64LE(locator + 8));
    if (z64 + 56 <= zip.length && zip.readUInt32LE(z64) === 0x06064b50) {
      count = Number(zip.readBigUInt64LE(z64 + 32));
      p = Number(zip.readBigUInt64LE(z64 + 48));
    }
  }
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    if (p + 46 > zip.length || zip.readUInt32LE(p) !== 0x02014b50)
      throw new Error('ZIP central directory is damaged');
    const method = zip.readUInt16LE(p + 10);
    let compressed = zip.readUInt32LE(p + 20);
    let uncompressed = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    let local = zip.readUInt32LE(p + 42);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLen);
    // ZIP64 extra field: 64-bit values, present only for the 32-bit fields set to all ones, in this order.
    const extra = zip.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    for (let e = 0; e + 4 <= extra.length;) {
      const id = extra.readUInt16LE(e);
      const size = extra.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        const next = (): number => {
          const v = Number(extra.readBigUInt64LE(q));
          q += 8;
          return v;
        };
        if (uncompressed === 0xffffffff) uncompressed = next();
        if (compressed === 0xffffffff) compressed = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + size;
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50)
      throw new Error(`ZIP entry ${name} is damaged`);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    if (start + compressed > zip.length) throw new Error(`ZIP entry ${name} is truncated`);
    const data = zip.subarray(start, start + compressed);
    if (method === 0) out.set(name, data);
    else if (method === 8) out.set(name, inflateRawSync(data));
    else throw new Error(`ZIP entry ${name} uses compression method ${method}`);
    if (out.get(name)!.length !== uncompressed) throw new Error(`ZIP entry ${name} has the wrong size`);
  }
  return out;
}

function findEocd(zip: Buffer): number {
  // The record is 22 bytes plus a comment of at most 64 KiB.
  const stop = Math.max(0, zip.length - 22 - 0xffff);
  for (let i = zip.length - 22; i >= stop; i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) return i;
  }
  return -1;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (_, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[e.toLowerCase()] ?? '';
  });
}

/**
 * Metadata from the vips-properties.xml that dzsave writes: every image field as a string, complete
 * and unescaped (`vipsheader -a` truncates long values and breaks multi-line ones).
 */
export function parseVipsProperties(xml: string): Record<string, string> {
  const props: Record<string, string> = {};
  const re =
    /<property>\s*<name>([\s\S]*?)<\/name>\s*<value[^>]*?(?:\/>|>([\s\S]*?)<\/value>)\s*<\/property>/g;
  for (const m of xml.matchAll(re)) {
    props[unescapeXml(m[1] ?? '')] = unescapeXml(m[2] ?? '');
  }
  return props;
}
