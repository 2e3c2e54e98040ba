import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SlideError } from '../errors.ts';
import type { Probe } from './types.ts';

const HEAD_BYTES = 4096;
/** A folder slide (DICOM series, MIRAX) has at most a few thousand files; more is not a slide. */
const MAX_FOLDER_FILES = 20_000;

/** Look at a file or folder once, cheaply, for every reader's detect(). */
export async function probe(input: string): Promise<Probe> {
  const abs = path.resolve(input);
  let st;
  try {
    st = await stat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SlideError('NOT_FOUND', 'no such file or folder');
    if (code === 'EACCES') throw new SlideError('NOT_FOUND', 'permission denied');
    throw e;
  }
  if (st.isDirectory()) {
    const files = await listFiles(abs);
    if (files.length === 0) throw new SlideError('EMPTY_FILE', 'folder holds no files');
    const first = files.find((f) => !path.basename(f).startsWith('.')) ?? files[0]!;
    let size = 0;
    for (const f of files) size += (await stat(f)).size;
    return { path: abs, isDirectory: true, files, head: await readHead(first), ext: '', size };
  }
  if (!st.isFile()) throw new SlideError('NOT_AN_IMAGE', 'not a regular file');
  if (st.size === 0) throw new SlideError('EMPTY_FILE', 'file is empty (0 bytes)');
  return {
    path: abs,
    isDirectory: false,
    files: [abs],
    head: await readHead(abs),
    ext: path.extname(abs).toLowerCase(),
    size: st.size,
  };
}

async function readHead(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 4) return;
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile()) out.push(p);
      if (out.length > MAX_FOLDER_FILES) {
        throw new SlideError(
          'UNSUPPORTED_FORMAT',
          `folder holds more than ${MAX_FOLDER_FILES} files: not one slide`,
        );
      }
    }
  };
  await walk(dir, 0);
  return out.sort();
}

/** Name well-known non-slide formats so the error says what the file is. */
export function describeForeign(head: Buffer): string | null {
  const sig: [string, number[]][] = [
    ['a PNG image', [0x89, 0x50, 0x4e, 0x47]],
    ['a plain JPEG image', [0xff, 0xd8, 0xff]],
    ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
    ['a BMP image', [0x42, 0x4d]],
    ['a JPEG 2000 image', [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50]],
    ['a ZIP archive', [0x50, 0x4b, 0x03, 0x04]],
    ['a PDF document', [0x25, 0x50, 0x44, 0x46]],
    ['a gzip archive', [0x1f, 0x8b]],
  ];
  for (const [name, bytes] of sig) if (bytes.every((b, i) => head[i] === b)) return name;
  if (head.length >= 12 && head.toString('latin1', 4, 8) === 'ftyp')
    return 'an ISO media file (HEIF/AVIF/MP4)';
  return null;
}

export function looksLikeTiff(head: Buffer): boolean {
  if (head.length < 8) return false;
  const m = head.toString('latin1', 0, 2);
  if (m === 'II') return head.readUInt16LE(2) === 42 || head.readUInt16LE(2) === 43;
  if (m === 'MM') return head.readUInt16BE(2) === 42 || head.readUInt16BE(2) === 43;
  return false;
}
