import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../auth/audit.ts';
import { type Db, openDb } from './index.ts';
import { JobRepo } from './jobs.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'tessera-jobs-'));
let db: Db;
beforeAll(async () => {
  db = await openDb({ databaseUrl: '', sqliteFile: path.join(dir, 'tessera.db') });
});
afterAll(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('JobRepo.create with what it commits beside', () => {
  it("commits the job's row and its audit record together", async () => {
    const id = '00000000-0000-4000-8000-000000000001';
    const audit = new AuditLog(db);
    await new JobRepo(db).create(id, 'ingest', 'upload a', undefined, (trx) =>
      audit.record({ action: 'slide.upload', targetType: 'job', targetId: id }, trx),
    );
    expect((await new JobRepo(db).get(id))?.name).toBe('upload a');
    const { entries } = await audit.query({ action: 'slide.upload' });
    expect(entries.map((e) => e.targetId)).toContain(id);
  });

  it('leaves no job when what it commits beside fails', async () => {
    const id = '00000000-0000-4000-8000-000000000002';
    await expect(
      new JobRepo(db).create(id, 'ingest', 'upload b', undefined, () =>
        Promise.reject(new Error('audit refused')),
      ),
    ).rejects.toThrow('audit refused');
    expect(await new JobRepo(db).get(id)).toBeNull();
  });
});
