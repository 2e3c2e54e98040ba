/**
 * multipart/related (RFC 2387) read as a stream: the body of a STOW-RS request and of a WADO-RS
 * answer. Parts come out as their headers followed by chunks of their body, never whole, so a
 * series of several gigabytes passes through a few hundred kilobytes of memory.
 */

/** Part headers larger than this are not a DICOMweb part. */
const MAX_HEADER_BYTES = 16 * 1024;

export class MultipartError extends Error {}

export type MultipartEvent =
  { kind: 'part'; headers: Record<string, string> } | { kind: 'data'; chunk: Buffer } | { kind: 'end-part' };

export interface RelatedType {
  /** The boundary parameter. */
  boundary: string;
  /** The `type` parameter (the root part's media type), lower case; '' when absent. */
  type: string;
  /** Every parameter, names lower case. */
  params: Record<string, string>;
}

/**
 * Parse `multipart/related; type="application/dicom"; boundary=…`; null when the media type is not
 * multipart/related or carries no usable boundary.
 */
export function parseRelatedType(contentType: string | undefined): RelatedType | null {
  if (!contentType) return null;
  const [media, ...rest] = splitParams(contentType);
  if (media?.trim().toLowerCase() !== 'multipart/related') return null;
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const name = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2)
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    params[name] = value;
  }
  const boundary = params.boundary ?? '';
  // RFC 2046 says 1 to 70 characters from a restricted set; senders exceed the length (Orthanc's
  // STOW-RS client sends 73), so up to 200 are taken.
  if (!/^[0-9A-Za-z'()+_,\-./:=? ]{1,200}$/.test(boundary) || boundary.endsWith(' ')) return null;
  return { boundary, type: (params.type ?? '').toLowerCase(), params };
}

/** Split on ';' outside quoted strings. */
function splitParams(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' && s[i - 1] !== '\\') quoted = !quoted;
    if (c === ';' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function parseHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  // Folded lines (obsolete, but allowed) continue the previous header.
  for (const line of block.split('\r\n').reduce<string[]>((acc, l) => {
    if (/^[ \t]/.test(l) && acc.length) acc[acc.length - 1] += ` ${l.trim()}`;
    else if (l !== '') acc.push(l);
    return acc;
  }, [])) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`malformed part header ${JSON.stringify(line.slice(0, 80))}`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * The events of a multipart body, in order: for each part its headers, its body in chunks, its
 * end. Throws MultipartError for a body that breaks the format (no closing delimiter, oversized
 * part headers). The consumer's pace is the reader's: nothing is read ahead of it.
 */
export async function* readMultipart(
  body: AsyncIterable<Uint8Array>,
  boundary: string,
): AsyncGenerator<MultipartEvent> {
  const dashBoundary = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  type State = 'preamble' | 'after-boundary' | 'headers' | 'body' | 'epilogue';
  let state: State = 'preamble';
  let buf: Buffer = Buffer.alloc(0);
  let ended = false;

  for await (const raw of body) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (state === 'preamble') {
        // The first delimiter may open the body without a CRLF before it.
        const at = buf.indexOf(dashBoundary);
        if (at < 0) {
          buf = buf.subarray(Math.max(0, buf.length - dashBoundary.length));
          break;
        }
        if (at > 0 && (at < 2 || buf[at - 2] !== 0x0d || buf[at - 1] !== 0x0a)) {
          // A boundary-like string inside the preamble: skip past it.
          buf = buf.subarray(at + 1);
          continue;
        }
        buf = buf.subarray(at + dashBoundary.length);
        state = 'after-boundary';
      }
      if (state === 'after-boundary') {
        // "--" closes the body; otherwise optional whitespace, then CRLF.
        if (buf.length < 2) break;
        if (buf[0] === 0x2d && buf[1] === 0x2d) {
          state = 'epilogue';
          ended = true;
          buf = Buffer.alloc(0);
          break;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) {
          if (buf.length > 256) throw new MultipartError('malformed multipart delimiter line');
          break;
        }
        if (!/^[ \t]*$/.test(buf.toString('latin1', 0, eol)))
          throw new MultipartError('malformed multipart delimiter line');
        buf = buf.subarray(eol + 2);
        state = 'headers';
      }
      if (state === 'headers') {
        // A part without headers starts with the empty line at once.
        const end = buf.subarray(0, 2).toString('latin1') === '\r\n' ? 0 : buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > MAX_HEADER_BYTES)
            throw new MultipartError(`part headers larger than ${MAX_HEADER_BYTES} bytes`);
          break;
        }
        if (end > MAX_HEADER_BYTES)
          throw new MultipartError(`part headers larger than ${MAX_HEADER_BYTES} bytes`);
        const headers = end === 0 ? {} : parseHeaders(buf.toString('latin1', 0, end));
        buf = buf.subarray(end === 0 ? 2 : end + 4);
        state = 'body';
        yield { kind: 'part', headers };
      }
      if (state === 'body') {
        const at = buf.indexOf(delimiter);
        if (at < 0) {
          // Keep what could be the start of a delimiter split across chunks.
          const keep = Math.min(buf.length, delimiter.length - 1);
          if (buf.length > keep) yield { kind: 'data', chunk: buf.subarray(0, buf.length - keep) };
          buf = buf.subarray(buf.length - keep);
          break;
        }
        if (at > 0) yield { kind: 'data', chunk: buf.subarray(0, at) };
        yield { kind: 'end-part' };
        buf = buf.subarray(at + delimiter.length);
        state = 'after-boundary';
        continue;
      }
      if (state === 'epilogue') {
        buf = Buffer.alloc(0);
        break;
      }
    }
    // A copy, so the chunk the body handed over is not held (a subarray keeps it whole).
    if (buf.length && buf.length < 4096) buf = Buffer.from(buf);
  }
  if (!ended)
    throw new MultipartError(
      state === 'preamble'
        ? 'no multipart part found (wrong boundary?)'
        : 'multipart body ends before its closing delimiter',
    );
}
