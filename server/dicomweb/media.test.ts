import { describe, expect, it } from 'vitest';
import { frameMedia, jsonMedia, parseAccept, renderedMedia } from './media.ts';

const JPEG = 'image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50';
const OCTET = 'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50';

describe('DICOMweb media types', () => {
  it('Accept ranges in order of q, quoted parameters with commas and semicolons kept', () => {
    const r = parseAccept(
      'image/png;q=0.2, multipart/related; type="image/jpeg"; transfer-syntax=*, */*;q=0',
    );
    expect(r.map((x) => [x.type, x.params.type, x.q])).toEqual([
      ['multipart/related', 'image/jpeg', 1],
      ['image/png', undefined, 0.2],
    ]);
    expect(parseAccept('multipart/related; type="a;b,c"')[0]!.params.type).toBe('a;b,c');
  });

  it('frames: JPEG Baseline, or octets with transfer-syntax=*; anything else 406', () => {
    expect(frameMedia(undefined, 3)).toEqual({ partType: JPEG, multipart: true });
    expect(frameMedia('multipart/related; type="image/jpeg"', 3)).toEqual({
      partType: JPEG,
      multipart: true,
    });
    expect(
      frameMedia('multipart/related; type=image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50', 1).partType,
    ).toBe(JPEG);
    expect(
      frameMedia('multipart/related; type="application/octet-stream"; transfer-syntax=*', 1).partType,
    ).toBe(OCTET);
    expect(frameMedia('image/jpeg', 1)).toEqual({ partType: JPEG, multipart: false });
    expect(frameMedia('image/jpeg, */*;q=0.1', 2)).toEqual({ partType: JPEG, multipart: true });
    for (const a of [
      'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70',
      'multipart/related; type="application/octet-stream"',
      'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1',
      'multipart/related; type="image/jp2"',
      'image/jpeg',
      'text/html',
    ])
      expect(() => frameMedia(a, 2), a).toThrow(/can be sent as/);
  });

  it('DICOM JSON and rendered images', () => {
    expect(jsonMedia(undefined)).toBe('application/dicom+json');
    expect(jsonMedia('application/json')).toBe('application/json');
    expect(jsonMedia('text/html, application/dicom+json;q=0.9')).toBe('application/dicom+json');
    expect(() => jsonMedia('multipart/related; type="application/dicom+xml"')).toThrow(/can be sent as/);
    expect(renderedMedia(undefined)).toBe('jpg');
    expect(renderedMedia('image/png, image/jpeg;q=0.5')).toBe('png');
    expect(renderedMedia('image/jpeg', 'image/png')).toBe('png');
    expect(() => renderedMedia('image/gif')).toThrow(/can be sent as/);
  });
});
