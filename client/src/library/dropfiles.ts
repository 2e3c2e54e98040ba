import type { UploadPayload } from '../api.ts';

/** Files an operating system leaves in folders; never part of a slide. */
const JUNK = new Set(['.DS_Store', 'Thumbs.db', 'desktop.ini']);

function readAll(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const out: FileSystemEntry[] = [];
  // readEntries returns at most ~100 entries per call; it signals the end with an empty batch.
  return new Promise((resolve, reject) => {
    const next = (): void =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(out);
        else {
          out.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, files: { file: File; path: string }[]): Promise<void> {
  if (entry.isFile) {
    if (JUNK.has(entry.name)) return;
    files.push({
      file: await fileOf(entry as FileSystemFileEntry),
      path: entry.fullPath.replace(/^\/+/, ''),
    });
  } else if (entry.isDirectory) {
    for (const child of await readAll(entry as FileSystemDirectoryEntry)) await walk(child, files);
  }
}

/**
 * A drop becomes one upload per dropped file and one per dropped folder (a folder is one slide: a
 * DICOM series or a MIRAX file with its data folder). Must be called inside the drop handler: the
 * browser empties the DataTransfer once the event returns.
 */
export function payloadsFromDrop(dt: DataTransfer): Promise<UploadPayload[]> {
  const entries: FileSystemEntry[] = [];
  const plain: File[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) plain.push(f);
    }
  }
  if (entries.length === 0 && plain.length === 0) plain.push(...Array.from(dt.files));
  return (async () => {
    const out: UploadPayload[] = plain.map((file) => ({ kind: 'file', file }));
    for (const entry of entries) {
      if (entry.isDirectory) {
        const files: { file: File; path: string }[] = [];
        await walk(entry, files);
        if (files.length > 0) out.push({ kind: 'folder', name: entry.name, files });
      } else if (!JUNK.has(entry.name)) {
        out.push({ kind: 'file', file: await fileOf(entry as FileSystemFileEntry) });
      }
    }
    return out;
  })();
}

/** Files from `<input webkitdirectory>`: one slide, each file named by its path inside the folder. */
export function payloadFromFolderInput(list: FileList): UploadPayload | null {
  const files = Array.from(list)
    .filter((f) => !JUNK.has(f.name))
    .map((file) => ({ file, path: file.webkitRelativePath || file.name }));
  if (files.length === 0) return null;
  const name = files[0]!.path.split('/')[0] || 'folder';
  return { kind: 'folder', name, files };
}
