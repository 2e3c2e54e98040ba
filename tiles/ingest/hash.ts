import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';

export interface HashedFile {
  path: string;
  bytes: number;
  sha256: string;
}

export async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), bytes };
}

/** Content id of a slide that is one file, from the file's SHA-256 (hex). */
export function singleFileId(sha256: string): string {
  return createHash('sha256').update(sha256).digest('hex').slice(0, 32);
}

/**
 * Content id of a slide: SHA-256 over its files' relative paths and contents, cut to 128 bits.
 * The same bytes give the same id wherever they come from; the file names outside the slide
 * (the folder it sits in) do not count.
 */
export async function contentId(
  root: string,
  files: readonly string[],
  isDirectory: boolean,
): Promise<{ id: string; files: HashedFile[] }> {
  const hashed: HashedFile[] = [];
  for (const f of files) {
    const { sha256, bytes } = await sha256File(f);
    hashed.push({
      path: isDirectory ? path.relative(root, f).split(path.sep).join('/') : path.basename(f),
      bytes,
      sha256,
    });
  }
  if (!isDirectory && hashed[0]) return { id: singleFileId(hashed[0].sha256), files: hashed };
  const top = createHash('sha256');
  for (const f of hashed) top.update(`${f.path}\0${f.sha256}\n`);
  return { id: top.digest('hex').slice(0, 32), files: hashed };
}
