/**
 * Balancing benchmark: `suggest` on a generated network of 50 sites, 500 pathologists and 20,000
 * open cases (SQLite in a temporary folder), timed end to end (reading cases and pathologists from
 * the database, then the algorithm) and the algorithm alone; medians of 5 runs.
 *
 *   npm run bench:balance -- [--sites 50] [--pathologists 500] [--cases 20000] [--runs 5]
 *
 * Target: under 2 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { balance } from '../../server/cases/balance.ts';
import { CaseService, balanceCase } from '../../server/cases/service.ts';
import { openDb } from '../../server/db/index.ts';
import { seedNetwork } from '../demo/network.ts';
import { intArg as int, runBench } from './args.ts';

const TARGET_MS = 2000;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      sites: { type: 'string', default: '50' },
      pathologists: { type: 'string', default: '500' },
      cases: { type: 'string', default: '20000' },
      runs: { type: 'string', default: '5' },
    },
    strict: true,
  });
  const sites = int('sites', values.sites, 1, 1000);
  const pathologists = int('pathologists', values.pathologists, sites, 100_000);
  const cases = int('cases', values.cases, 1, 1_000_000);
  const runs = int('runs', values.runs, 1, 50);
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-balance-'));
  const db = await openDb({ databaseUrl: '', sqliteFile: path.join(dir, 'tessera.db') });
  try {
    const t0 = performance.now();
    await seedNetwork(db, {
      sites,
      pathologistsPerSite: Math.round(pathologists / sites),
      openCases: cases,
      reportedCases: 0,
      seed: 7,
      passwordHash: 'not-a-login',
      skew: 0.2,
    });
    console.log(
      `network     ${sites} sites, ${Math.round(pathologists / sites) * sites} pathologists, ${cases} open cases (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s, SQLite)`,
    );
    const svc = new CaseService(db);
    const total: number[] = [];
    const algo: number[] = [];
    let last = { suggestions: 0, stillOver: 0, crossSite: 0 };
    for (let i = 0; i < runs; i++) {
      const a = performance.now();
      const r = await svc.suggestions({});
      total.push(performance.now() - a);
      algo.push(r.millis);
      last = {
        suggestions: r.suggestions.length,
        stillOver: r.stillOver.length,
        crossSite: r.suggestions.filter((s) => s.crossSite).length,
      };
    }
    // The algorithm alone, on plain arrays already in memory.
    const ps = (await svc.pathologists()).map((p) => ({
      id: p.userId,
      name: p.name,
      siteId: p.siteId,
      subspecialties: p.subspecialties,
      capacity: p.weeklyCapacity,
      onLeave: p.onLeave,
    }));
    const cs = (await svc.list({ openOnly: true, limit: 1_000_000 })).map(balanceCase);
    const pure: number[] = [];
    for (let i = 0; i < runs; i++) {
      const a = performance.now();
      balance(ps, cs);
      pure.push(performance.now() - a);
    }
    const med = (x: number[]): number => [...x].sort((p, q) => p - q)[x.length >> 1]!;
    console.log(
      `suggest     ${last.suggestions} moves (${last.crossSite} across sites), ${last.stillOver} pathologists still over capacity`,
    );
    console.log(
      `time        end to end (database + algorithm) median ${med(total).toFixed(0)} ms over ${runs} runs; algorithm alone ${med(pure).toFixed(0)} ms`,
    );
    const ok = med(total) < TARGET_MS;
    console.log(`target      under ${TARGET_MS} ms: ${ok ? 'PASS' : 'FAIL'}`);
    return ok ? 0 : 1;
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
