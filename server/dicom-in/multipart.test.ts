import { describe, expect, it } from 'vitest';
import { MultipartError, parseRelatedType, readMultipart } from './multipart.ts';

/** Parts as (headers, body) after reading `body` cut into chunks of `size` bytes. */
async function parse(body: Buffer, boundary: string, size: number) {
  async function* chunks() {
    for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size);
  }
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let cur: Buffer[] = [];
  for await (const ev of readMultipart(chunks(), boundary)) {
    if (ev.kind === 'part') {
      parts.push({ headers: ev.headers, body: Buffer.alloc(0) });
      cur = [];
    } else if (ev.kind === 'data') cur.push(Buffer.from(ev.chunk));
    else parts[parts.length - 1]!.body = Buffer.concat(cur);
  }
  return parts;
}

function related(boundary: string, bodies: Buffer[], preamble = ''): Buffer {
  const out: Buffer[] = [Buffer.from(preamble)];
  for (const b of bodies) {
    out.push(
      Buffer.from(
        `${preamble || out.length > 1 ? '\r\n' : ''}--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`,
      ),
    );
    out.push(b);
  }
  out.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return Buffer.concat(out);
}

describe('multipart/related reader', () => {
  // Bodies holding CR LF, dashes and a near-miss of the delimiter, as binary DICOM may.
  const boundary = 'b0undary-42';
  const bodies = [
    Buffer.from('DICM\r\n--b0undary-4\r\n--b0undary\r\nend'),
    Buffer.alloc(0),
    Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) % 256)),
  ];

  it('gives every part back byte for byte, whatever the chunk sizes', async () => {
    const body = related(boundary, bodies);
    for (const size of [1, 2, 3, 7, 13, 64, 1000, body.length]) {
      const parts = await parse(body, boundary, size);
      expect(
        parts.map((p) => p.body.equals(bodies[parts.indexOf(p)]!)),
        `chunks of ${size}`,
      ).toEqual([true, true, true]);
      expect(parts[0]!.headers['content-type']).toBe('application/dicom');
    }
  });

  it('skips a preamble before the first delimiter', async () => {
    const parts = await parse(related(boundary, bodies.slice(0, 1), 'This is a preamble'), boundary, 5);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.body.equals(bodies[0]!)).toBe(true);
  });

  it('refuses a body cut before its closing delimiter, and one with another boundary', async () => {
    const body = related(boundary, bodies);
    await expect(parse(body.subarray(0, body.length - 20), boundary, 64)).rejects.toThrow(MultipartError);
    await expect(parse(body, 'other', 64)).rejects.toThrow(/no multipart part found/);
  });

  it('refuses oversized part headers', async () => {
    const body = Buffer.from(`--${boundary}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\nx\r\n--${boundary}--`);
    await expect(parse(body, boundary, 1024)).rejects.toThrow(/part headers larger/);
  });

  it('reads the media type: boundary, type, quoted parameters', () => {
    expect(
      parseRelatedType('multipart/related; type="application/dicom"; boundary="a b:c"; transfer-syntax=*'),
    ).toEqual({
      boundary: 'a b:c',
      type: 'application/dicom',
      params: { type: 'application/dicom', boundary: 'a b:c', 'transfer-syntax': '*' },
    });
    expect(parseRelatedType('Multipart/Related;boundary=x')?.boundary).toBe('x');
    expect(parseRelatedType('multipart/form-data; boundary=x')).toBeNull();
    expect(parseRelatedType('multipart/related')).toBeNull();
    // Orthanc's STOW-RS client sends 73 characters, over RFC 2046's 70.
    expect(parseRelatedType(`multipart/related; boundary=${'x'.repeat(73)}`)?.boundary).toHaveLength(73);
    expect(parseRelatedType(`multipart/related; boundary=${'x'.repeat(201)}`)).toBeNull();
    expect(parseRelatedType('multipart/related; boundary="a\r\nb"')).toBeNull();
  });
});
