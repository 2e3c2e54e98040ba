import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { parseIni } from './mirax.ts';
import { parseVipsProperties, readZip } from './szi.ts';
import { hasOpenslide, run, vipsFailure } from './vips.ts';

/** A one-entry ZIP as plain tools write it: sizes in the local header and the central directory. */
function tinyZip(name: string, data: Buffer, method: 0 | 8): Buffer {
  const body = method === 8 ? deflateRawSync(data) : data;
  const n = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(method, 8);
  local.writeUInt32LE(body.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(method, 10);
  central.writeUInt32LE(body.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(n.length, 28);
  central.writeUInt32LE(0, 42);
  const cdOffset = local.length + n.length + body.length;
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(central.length + n.length, 12);
  eocd.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, n, body, central, n, eocd]);
}

describe('SZI reading', () => {
  it('reads stored and deflated entries by their central-directory sizes', () => {
    const text = Buffer.from('tessera '.repeat(100));
    expect(readZip(tinyZip('a/stored.txt', text, 0)).get('a/stored.txt')).toEqual(text);
    expect(readZip(tinyZip('a/deflated.txt', text, 8)).get('a/deflated.txt')).toEqual(text);
  });

  it('rejects a buffer that is not a ZIP', () => {
    expect(() => readZip(Buffer.from('not a zip at all, just some text padding it out'))).toThrow(
      /not a ZIP/,
    );
  });

  it('reads the ZIP64 archives vips dzsave writes, with every entry at its true size', async (ctx) => {
    if (!(await hasOpenslide('vips'))) ctx.skip('the vips command with OpenSlide is not installed');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-szi-'));
    try {
      const png = path.join(dir, 'in.png');
      await sharp({ create: { width: 300, height: 200, channels: 3, background: '#c06080' } })
        .png()
        .toFile(png);
      const r = await run('vips', ['dzsave', png, path.join(dir, 'out.szi')]);
      expect(r.code, r.stderr).toBe(0);
      const entries = readZip(await readFile(path.join(dir, 'out.szi')));
      const xml = [...entries].find(([k]) => k.endsWith('vips-properties.xml'))?.[1];
      expect(parseVipsProperties(xml!.toString('utf8')).width).toBe('300');
      const tile = [...entries].find(([k]) => k.endsWith('.jpeg'))?.[1];
      expect((await sharp(tile!).metadata()).format).toBe('jpeg');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('vips property XML', () => {
  it('unescapes names and values and keeps multi-line values whole', () => {
    const xml = `<?xml version="1.0"?><image><properties>
      <property><name>aperio.Title</name><value type="VipsRefString">A &amp; B &lt;x&gt; &#233;</value></property>
      <property><name>tiff.ImageDescription</name><value type="VipsRefString">line 1
line 2|AppMag = 20</value></property>
      <property><name>empty</name><value type="VipsRefString"></value></property>
    </properties></image>`;
    expect(parseVipsProperties(xml)).toEqual({
      'aperio.Title': 'A & B <x> é',
      'tiff.ImageDescription': 'line 1\nline 2|AppMag = 20',
      empty: '',
    });
  });
});

describe('Slidedat.ini', () => {
  it('parses sections from UTF-8 with a BOM and CRLF line ends', () => {
    const ini = parseIni(
      '\uFEFF[GENERAL]\r\nSLIDE_NAME = test\r\n[DATAFILE]\r\nFILE_COUNT = 2\r\nFILE_0 = Data0000.dat\r\n',
    );
    expect(ini.get('GENERAL')?.get('SLIDE_NAME')).toBe('test');
    expect(ini.get('DATAFILE')?.get('FILE_0')).toBe('Data0000.dat');
  });
});

describe('vips failures as one-line errors', () => {
  const base = { code: 1, signal: null, stdout: '' } as const;

  it('names the missing MIRAX data file', () => {
    const e = vipsFailure(
      {
        ...base,
        stderr:
          "(vips:1): VIPS-WARNING **: error in tile 79360 x 91392\nopenslide2vips: reading region: Couldn't open /s/sample_file/Data0005.dat: No such file or directory\n",
      },
      '/s/sample_file.mrxs',
      'converting',
    );
    expect([e.code, e.message]).toEqual(['CORRUPT_FILE', 'MIRAX slide incomplete: cannot open Data0005.dat']);
  });

  it('reports a crash of the child with the file name', () => {
    const e = vipsFailure({ ...base, code: null, signal: 'SIGSEGV', stderr: '' }, '/s/x.ndpi', 'opening');
    expect(e.message).toBe('OpenSlide crashed (SIGSEGV) while opening x.ndpi');
  });

  it("keeps OpenSlide's own reason, on one line", () => {
    const e = vipsFailure(
      {
        ...base,
        stderr: 'VipsForeignLoad: "x.ndpi" is\nopenslide2vips: Unexpected EOF\nin TIFF directory\n',
      },
      '/s/x.ndpi',
      'opening',
    );
    expect(e.code).toBe('CORRUPT_FILE');
    expect(e.message).toBe('x.ndpi: Unexpected EOF');
  });

  it('reports a full scratch disk as an ingest failure, not a bad slide', () => {
    const e = vipsFailure(
      { ...base, stderr: 'TIFFWriteTile: No space left on device\n' },
      '/s/x.ndpi',
      'converting',
    );
    expect(e.code).toBe('INGEST_FAILED');
  });
});
