import { constants } from 'node:fs';
import { access, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { SlideError } from '../../errors.ts';

/** Sections of Slidedat.ini as key -> value maps (section and key names as written). */
export type Ini = Map<string, Map<string, string>>;

/** Parse an INI file as 3DHISTECH writes it: UTF-8 with a BOM, CRLF line ends, `KEY = value`. */
export function parseIni(text: string): Ini {
  const ini: Ini = new Map();
  let section = new Map<string, string>();
  ini.set('', section);
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = ini.get(head[1]!) ?? new Map<string, string>();
      ini.set(head[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0) section.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return ini;
}

/** The data folder OpenSlide expects beside a .mrxs: same name without the extension. */
export function miraxDataDir(mrxs: string): string {
  return mrxs.slice(0, mrxs.length - path.extname(mrxs).length);
}

/**
 * Names of the files Slidedat.ini lists (index and data files) that are not in the data folder, in
 * listed order. Throws CORRUPT_FILE when the folder or its Slidedat.ini is missing altogether.
 */
export async function missingMiraxFiles(mrxs: string): Promise<string[]> {
  const dir = miraxDataDir(mrxs);
  const base = path.basename(mrxs);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new SlideError(
      'CORRUPT_FILE',
      `MIRAX slide incomplete: data folder ${path.basename(dir)}/ not found beside ${base}`,
    );
  }
  // OpenSlide opens these names exactly as written, so a case-insensitive match would not help it.
  if (!names.includes('Slidedat.ini')) {
    throw new SlideError(
      'CORRUPT_FILE',
      `MIRAX slide incomplete: cannot open ${path.basename(dir)}/Slidedat.ini`,
    );
  }
  const ini = parseIni(await readFile(path.join(dir, 'Slidedat.ini'), 'utf8'));
  const listed: string[] = [];
  const index = ini.get('HIERARCHICAL')?.get('INDEXFILE');
  if (index) listed.push(index);
  const data = ini.get('DATAFILE');
  const count = Number(data?.get('FILE_COUNT') ?? 0);
  for (let i = 0; i < count; i++) {
    const name = data?.get(`FILE_${i}`);
    if (name) listed.push(name);
  }
  const missing: string[] = [];
  for (const name of listed) {
    try {
      await access(path.join(dir, name), constants.R_OK);
    } catch {
      missing.push(name);
    }
  }
  return missing;
}

/** The one-line error for a MIRAX slide missing some of its files. */
export function incompleteMirax(missing: readonly string[]): SlideError {
  const first = missing[0] ?? 'a data file';
  const more = missing.length > 1 ? ` (${missing.length - 1} more files missing)` : '';
  return new SlideError('CORRUPT_FILE', `MIRAX slide incomplete: cannot open ${first}${more}`);
}
