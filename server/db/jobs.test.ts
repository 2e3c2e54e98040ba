import { describe, expect, it } from 'vitest';
import { useTestDb } from '../../tests/helpers/test-db.ts';
import { AuditLog } from '../auth/audit.ts';
import { JobRepo } from './jobs.ts';

const tempDb = useTestDb('tessera-jobs');

describe('JobRepo.create with what it commits beside', () => {
  it("commits the job's row and its audit record together", async () => {
    const id = '00000000-0000-4000-8000-000000000001';
    const audit = new AuditLog(tempDb());
    await new JobRepo(tempDb()).create(id, 'ingest', 'upload a', undefined, (trx) =>
      audit.record({ action: 'slide.upload', targetType: 'job', targetId: id }, trx),
    );
    expect((await new JobRepo(tempDb()).get(id))?.name).toBe('upload a');
    const { entries } = await audit.query({ action: 'slide.upload' });
    expect(entries.map((e) => e.targetId)).toContain(id);
  });

  it('leaves no job when what it commits beside fails', async () => {
    const id = '00000000-0000-4000-8000-000000000002';
    await expect(
      new JobRepo(tempDb()).create(id, 'ingest', 'upload b', undefined, () =>
        Promise.reject(new Error('audit refused')),
      ),
    ).rejects.toThrow('audit refused');
    expect(await new JobRepo(tempDb()).get(id)).toBeNull();
  });
});
