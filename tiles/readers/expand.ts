import { readdir } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';

/** Files that sit beside slides (documentation, checksums) and are never slides themselves. */
const NOT_SLIDES = new Set([
  '.md',
  '.json',
  '.txt',
  '.csv',
  '.xml',
  '.html',
  '.pdf',
  '.sha256',
  '.md5',
  '.log',
  '.ini',
  '.dat',
]);

/**
 * Turn a command-line argument into slide inputs. A file is one slide. A folder is one slide when it
 * is a multi-file slide (a .mrxs beside its data folder, or only DICOM files and no subfolders);
 * otherwise each entry in it is looked at the same way, and documentation files are passed over.
 */
export async function expandInput(input: string): Promise<string[]> {
  const abs = path.resolve(input);
  const st = await stat(abs).catch(() => null);
  if (!st || !st.isDirectory()) return [abs];
  return expandDir(abs, 0);
}

async function expandDir(dir: string, depth: number): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  const files = entries.filter((e) => e.isFile()).map((e) => e.name);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  if (files.some((f) => f.toLowerCase().endsWith('.mrxs'))) return [dir];
  if (dirs.length === 0 && files.length > 0) {
    const dicom = await Promise.all(files.map((f) => isDicom(path.join(dir, f))));
    const candidates = files.filter((f) => !NOT_SLIDES.has(path.extname(f).toLowerCase()));
    if (candidates.length > 1 && candidates.every((f) => dicom[files.indexOf(f)])) return [dir];
  }
  if (depth > 6) return [];
  const out: string[] = [];
  for (const name of [...files].sort()) {
    if (NOT_SLIDES.has(path.extname(name).toLowerCase())) continue;
    out.push(path.join(dir, name));
  }
  for (const name of [...dirs].sort()) out.push(...(await expandDir(path.join(dir, name), depth + 1)));
  return out;
}

async function isDicom(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(132);
    const { bytesRead } = await fh.read(buf, 0, 132, 0);
    return bytesRead === 132 && buf.toString('latin1', 128, 132) === 'DICM';
  } finally {
    await fh.close();
  }
}
