import { randomBytes } from 'node:crypto';
import { JPEG_BASELINE } from '../../tiles/export/dicom-attributes.ts';
import { HttpError } from '../http/errors.ts';

/**
 * Media types of DICOMweb answers (PS3.18 8.7): what an Accept header allows, and multipart/related
 * bodies.
 */

/** One media range of an Accept header. */
export interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
}

/** An Accept header's ranges, most wanted first (ties keep their order); empty: anything. */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header || header.trim() === '') return [];
  const out: (MediaRange & { i: number })[] = [];
  let i = 0;
  for (const part of splitOutsideQuotes(header, ',')) {
    const [type = '', ...rest] = splitOutsideQuotes(part, ';').map((s) => s.trim());
    if (type === '') continue;
    const params: Record<string, string> = {};
    for (const p of rest) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      params[p.slice(0, eq).trim().toLowerCase()] = p
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
    }
    const q = params.q === undefined ? 1 : Number(params.q);
    delete params.q;
    if (!(q > 0)) continue;
    out.push({ type: type.toLowerCase(), params, q, i: i++ });
  }
  return out.sort((a, b) => b.q - a.q || a.i - b.i).map(({ i: _i, ...r }) => r);
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const c of s) {
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const notAcceptable = (what: string, accept: string | undefined): HttpError =>
  new HttpError(
    'NOT_ACCEPTABLE',
    `${what} can be sent as ${ACCEPTED[what as keyof typeof ACCEPTED] ?? 'listed in the README'}; the request accepts ${JSON.stringify((accept ?? '').slice(0, 200))}`,
  );

const ACCEPTED = {
  frames: `multipart/related; type="image/jpeg" (transfer syntax ${JPEG_BASELINE} or *), or multipart/related; type="application/octet-stream"; transfer-syntax=*`,
  'DICOM JSON': 'application/dicom+json or application/json',
  'a rendered image': 'image/jpeg or image/png',
  instances: `multipart/related; type="application/dicom" with transfer-syntax=* or ${JPEG_BASELINE}`,
};

/** A transfer-syntax parameter the stored JPEG Baseline frames satisfy (absent means the type's default). */
function jpegSyntax(ts: string | undefined, dflt: boolean): boolean {
  return ts === undefined ? dflt : ts === '*' || ts === JPEG_BASELINE;
}

/** How frames go out: parts' Content-Type, and whether as one multipart body or a single image. */
export interface FrameMedia {
  partType: string;
  multipart: boolean;
}

const JPEG_PART = `image/jpeg; transfer-syntax=${JPEG_BASELINE}`;
const OCTET_PART = `application/octet-stream; transfer-syntax=${JPEG_BASELINE}`;

/**
 * The media type for stored JPEG Baseline frames under `accept`; 406 NOT_ACCEPTABLE when every
 * range asks for something else (another transfer syntax, uncompressed octets, another image type).
 * A single image (not multipart) only when one frame was asked for and image/jpeg accepted as such.
 */
export function frameMedia(accept: string | undefined, frameCount: number): FrameMedia {
  const ranges = parseAccept(accept);
  if (ranges.length === 0) return { partType: JPEG_PART, multipart: true };
  for (const r of ranges) {
    const ts = r.params['transfer-syntax'];
    if (r.type === '*/*' || r.type === 'multipart/*') return { partType: JPEG_PART, multipart: true };
    if (r.type === 'multipart/related') {
      const type = (r.params.type ?? '').toLowerCase();
      if (
        (type === '' || type === '*/*' || type === 'image/*' || type === 'image/jpeg') &&
        jpegSyntax(ts, true)
      )
        return { partType: JPEG_PART, multipart: true };
      // application/octet-stream defaults to Explicit VR Little Endian: only with a syntax we have.
      if (type === 'application/octet-stream' && jpegSyntax(ts, false))
        return { partType: OCTET_PART, multipart: true };
      continue;
    }
    if (frameCount === 1 && (r.type === 'image/jpeg' || r.type === 'image/*') && jpegSyntax(ts, true))
      return { partType: JPEG_PART, multipart: false };
  }
  throw notAcceptable('frames', accept);
}

/**
 * Whole instances (Part 10): stored as JPEG Baseline, so application/dicom only with that transfer
 * syntax or `*` (without one the request asks for Explicit VR Little Endian, which would mean
 * decoding every frame).
 */
export function instanceMedia(accept: string | undefined): string {
  const ranges = parseAccept(accept);
  const part = `application/dicom; transfer-syntax=${JPEG_BASELINE}`;
  if (ranges.length === 0) return part;
  for (const r of ranges) {
    if (r.type === '*/*' || r.type === 'multipart/*') return part;
    const type = (r.params.type ?? '').toLowerCase();
    if (
      r.type === 'multipart/related' &&
      type === 'application/dicom' &&
      jpegSyntax(r.params['transfer-syntax'], false)
    )
      return part;
  }
  throw notAcceptable('instances', accept);
}

/** QIDO answers and metadata: DICOM JSON, unless the request accepts nothing like it. */
export function jsonMedia(accept: string | undefined): string {
  const ranges = parseAccept(accept);
  if (ranges.length === 0) return 'application/dicom+json';
  for (const r of ranges) {
    if (r.type === 'application/dicom+json' || r.type === '*/*' || r.type === 'application/*')
      return 'application/dicom+json';
    if (r.type === 'application/json') return 'application/json';
    if (r.type === 'multipart/related' && (r.params.type ?? '').toLowerCase() === 'application/dicom+json')
      return 'application/dicom+json';
  }
  throw notAcceptable('DICOM JSON', accept);
}

/** Rendered images and thumbnails: JPEG unless PNG is preferred (`accept` query parameter first). */
export function renderedMedia(accept: string | undefined, acceptParam?: string): 'jpg' | 'png' {
  const ranges = parseAccept(acceptParam && acceptParam !== '' ? acceptParam : accept);
  if (ranges.length === 0) return 'jpg';
  for (const r of ranges) {
    if (r.type === 'image/jpeg' || r.type === 'image/*' || r.type === '*/*') return 'jpg';
    if (r.type === 'image/png') return 'png';
  }
  throw notAcceptable('a rendered image', acceptParam || accept);
}

/** A multipart/related body's boundary: random, so no JPEG holds it. */
export function newBoundary(): string {
  return `tessera-${randomBytes(12).toString('hex')}`;
}

/** The Content-Type of a multipart/related answer whose parts are `partType`. */
export function multipartType(partType: string, boundary: string): string {
  const type = partType.split(';')[0]!;
  return `multipart/related; type="${type}"; boundary=${boundary}`;
}

/** The bytes before a part's body. */
export function partHead(boundary: string, partType: string, location?: string): Buffer {
  const loc = location ? `Content-Location: ${location}\r\n` : '';
  return Buffer.from(`--${boundary}\r\nContent-Type: ${partType}\r\n${loc}\r\n`);
}

/** The bytes after the last part. */
export function multipartEnd(boundary: string): Buffer {
  return Buffer.from(`\r\n--${boundary}--\r\n`);
}

/** Between one part's body and the next part's head. */
export const PART_SEPARATOR = Buffer.from('\r\n');
