/**
 * Minimal CZI files for tests, laid out as the ZISRAW specification describes (file header, metadata,
 * subblocks, directory): cases the two sample files do not cover, such as compressed subblocks,
 * several grey channels and absurd sizes.
 */

export interface FixtureSubblock {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Stored size when it differs from the logical one (pyramid subblocks). */
  storedWidth?: number;
  storedHeight?: number;
  c?: number;
  m?: number;
  /** 0 Gray8, 1 Gray16, 3 Bgr24... */
  pixelType: number;
  /** 0 uncompressed, 4 JPEG XR, 5 zstd... */
  compression?: number;
  pyramidType?: number;
  data: Buffer;
}

function segment(id: string, data: Buffer, allocated = data.length): Buffer {
  const h = Buffer.alloc(32);
  h.write(id, 0, 'latin1');
  h.writeBigInt64LE(BigInt(allocated), 16);
  h.writeBigInt64LE(BigInt(data.length), 24);
  const pad = Buffer.alloc(allocated - data.length);
  return Buffer.concat([h, data, pad]);
}

function entry(b: FixtureSubblock, filePosition: number): Buffer {
  const dims: [string, number, number, number][] = [
    ['X', b.x, b.width, b.storedWidth ?? b.width],
    ['Y', b.y, b.height, b.storedHeight ?? b.height],
    ['C', b.c ?? 0, 1, 1],
    ['M', b.m ?? 0, 1, 1],
    ['S', 0, 1, 1],
  ];
  const e = Buffer.alloc(32 + dims.length * 20);
  e.write('DV', 0, 'latin1');
  e.writeInt32LE(b.pixelType, 2);
  e.writeBigInt64LE(BigInt(filePosition), 6);
  e.writeInt32LE(b.compression ?? 0, 18);
  e.writeUInt8(b.pyramidType ?? 0, 22);
  e.writeInt32LE(dims.length, 28);
  dims.forEach(([name, start, size, stored], k) => {
    const at = 32 + k * 20;
    e.write(name, at, 'latin1');
    e.writeInt32LE(start, at + 4);
    e.writeInt32LE(size, at + 8);
    e.writeInt32LE(stored, at + 16);
  });
  return e;
}

/** A single-part CZI holding `blocks` and, if given, an XML metadata document. */
export function writeCzi(
  blocks: FixtureSubblock[],
  xml?: string,
  options: { filePart?: number } = {},
): Buffer {
  const parts: Buffer[] = [];
  let pos = 32 + 512;
  let metadataPosition = 0;
  if (xml !== undefined) {
    const body = Buffer.from(xml, 'utf8');
    const head = Buffer.alloc(256);
    head.writeInt32LE(body.length, 0);
    const seg = segment('ZISRAWMETADATA', Buffer.concat([head, body]));
    metadataPosition = pos;
    parts.push(seg);
    pos += seg.length;
  }
  const entries: Buffer[] = [];
  for (const b of blocks) {
    const e = entry(b, pos);
    const head = Buffer.alloc(Math.max(256, 16 + e.length));
    head.writeInt32LE(0, 0);
    head.writeInt32LE(0, 4);
    head.writeBigInt64LE(BigInt(b.data.length), 8);
    e.copy(head, 16);
    const seg = segment('ZISRAWSUBBLOCK', Buffer.concat([head, b.data]));
    entries.push(e);
    parts.push(seg);
    pos += seg.length;
  }
  const dirHead = Buffer.alloc(128);
  dirHead.writeInt32LE(blocks.length, 0);
  const directoryPosition = pos;
  parts.push(segment('ZISRAWDIRECTORY', Buffer.concat([dirHead, ...entries])));

  const fileHeader = Buffer.alloc(512);
  fileHeader.writeInt32LE(1, 0);
  const guid = Buffer.from('0123456789abcdef', 'latin1');
  guid.copy(fileHeader, 16);
  guid.copy(fileHeader, 32);
  fileHeader.writeInt32LE(options.filePart ?? 0, 48);
  fileHeader.writeBigInt64LE(BigInt(directoryPosition), 52);
  fileHeader.writeBigInt64LE(BigInt(metadataPosition), 60);
  return Buffer.concat([segment('ZISRAWFILE', fileHeader), ...parts]);
}

/** Metadata naming channels (with colours) and the scaling, as ZEN writes them. */
export function cziXml(opts: {
  mmPerPixel?: number;
  magnification?: number;
  channels?: { name: string; color?: string }[];
}): string {
  const scaling =
    opts.mmPerPixel === undefined
      ? ''
      : `<Scaling><Items><Distance Id="X"><Value>${opts.mmPerPixel / 1000}</Value></Distance>` +
        `<Distance Id="Y"><Value>${opts.mmPerPixel / 1000}</Value></Distance></Items></Scaling>`;
  const objective =
    opts.magnification === undefined
      ? ''
      : `<Instrument><Objectives><Objective Id="Objective:1" Name="Test ${opts.magnification}x">` +
        `<NominalMagnification>${opts.magnification}</NominalMagnification></Objective></Objectives></Instrument>`;
  const channels = (opts.channels ?? [])
    .map(
      (c, i) =>
        `<Channel Id="Channel:${i}" Name="${c.name}">${c.color ? `<Color>${c.color}</Color>` : ''}<IlluminationType>Epifluorescence</IlluminationType></Channel>`,
    )
    .join('');
  return (
    `<?xml version="1.0"?><ImageDocument><Metadata><Information>${objective}<Image><PixelType>Gray8</PixelType>` +
    `<Dimensions><Channels>${channels}</Channels></Dimensions></Image></Information>${scaling}</Metadata></ImageDocument>`
  );
}
