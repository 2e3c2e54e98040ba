import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isSlideId } from '../tiles/index.ts';
import { exportDicomSeries } from '../tiles/export/dicom.ts';
import type { SlideStore } from '../tiles/index.ts';
import type { Config } from '../server/config.ts';

/**
 * `tessera export <id> --format dicom --out DIR`: the identified form (whoever runs it reads the store
 * and the database directly), with the study taken from the slide's case when the database has one.
 * Prints one line per instance written. Exit 2 for a malformed or unknown id.
 */
export async function cmdExportDicom(
  config: Config,
  store: SlideStore,
  id: string,
  out: string,
): Promise<number> {
  if (!isSlideId(id)) {
    console.error(
      `error: Expected a slide id (32 hex digits) but received ${JSON.stringify(String(id).slice(0, 64))}`,
    );
    return 2;
  }
  const manifest = await store.manifest(id);
  if (!manifest) {
    console.error(`error: no slide ${id} in ${store.location}`);
    return 2;
  }
  const { openDb } = await import('../server/db/index.ts');
  const { identifiedSubject } = await import('../server/export/dicom.ts');
  const db = await openDb({ databaseUrl: config.databaseUrl, sqliteFile: config.dbFile });
  let subject;
  try {
    const row = await db
      .selectFrom('slides')
      .select(['name', 'site_id'])
      .where('id', '=', id)
      .executeTakeFirst();
    subject = await identifiedSubject(db, id, row?.name ?? manifest.name, row?.site_id ?? null);
  } finally {
    await db.destroy();
  }
  await mkdir(out, { recursive: true });
  let n = 0;
  for await (const f of exportDicomSeries(store, id, {
    subject,
    deidentified: false,
    softwareVersion: '0.1.0',
  })) {
    const file = path.join(out, f.name);
    await writeFile(file, f.data);
    console.log(`${file}\t${f.kind}\t${f.sopInstanceUid}`);
    n++;
  }
  console.error(`${n} DICOM instances written to ${out}`);
  return 0;
}
