/**
 * `tessera demo`: a realistic network to try the dashboard at once — six sites, thirty
 * pathologists, specialists, a lab manager and an administrator, about 400 open cases piled unevenly
 * across sites, eight weeks of reported history, and a few generated slides attached to cases.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashPassword } from '../../server/auth/users.ts';
import { AuditLog } from '../../server/auth/audit.ts';
import { CaseService } from '../../server/cases/service.ts';
import type { Db } from '../../server/db/index.ts';
import { SlideRepo } from '../../server/db/slides.ts';
import { type StoreSpec, createStore, ingest } from '../../tiles/index.ts';
import { writeSyntheticSlide } from '../bench/make-bench-slide.ts';
import { seedNetwork } from './network.ts';

export interface DemoOptions {
  dataDir: string;
  /** The slide store; default the local one in dataDir. */
  store?: StoreSpec;
  small: boolean;
  slides: number;
  log: (line: string) => void;
}

export async function runDemo(
  db: Db,
  o: DemoOptions,
): Promise<{ password: string; manager: string; admin: string }> {
  const password = randomBytes(12).toString('base64url');
  const seed = Number.parseInt(randomBytes(3).toString('hex'), 16);
  const summary = await seedNetwork(db, {
    sites: o.small ? 2 : 6,
    pathologistsPerSite: o.small ? 3 : 5,
    openCases: o.small ? 40 : 400,
    reportedCases: o.small ? 60 : 900,
    seed,
    passwordHash: await hashPassword(password),
  });
  o.log(
    `network: ${summary.siteIds.length} sites, ${summary.pathologists} pathologists, ${summary.specialists} specialists, ${summary.openCases} open and ${summary.reportedCases} reported cases`,
  );
  if (o.slides > 0) {
    const work = mkdtempSync(path.join(tmpdir(), 'tessera-demo-'));
    const store = createStore(o.store ?? { kind: 'local', root: o.dataDir });
    const slides = new SlideRepo(db);
    const cases = new CaseService(db);
    const open = (await cases.list({ site: summary.siteIds[0]!, openOnly: true, limit: 1000 }))
      .filter((c) => c.assignedTo)
      .slice(0, o.slides);
    try {
      for (const [i, c] of open.entries()) {
        const file = path.join(work, `${c.accession}.tif`);
        await writeSyntheticSlide(file, 6000, 4500, seed + i);
        const { manifest } = await ingest(file, store, { tileSize: 256, jpegQuality: 92 });
        await slides.register(manifest, c.siteId);
        await cases.attachSlide(c.id, manifest.id);
        o.log(`slide ${i + 1}/${open.length}: ${manifest.id} attached to case ${c.accession}`);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  await new AuditLog(db).record({ action: 'demo.seed', actorName: 'cli', ip: 'local', detail: { seed } });
  return { password, manager: summary.managerName, admin: summary.adminName };
}
