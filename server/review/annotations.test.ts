import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDb } from '../db/index.ts';
import { AnnotationService, type CreateOperation, OpRefused } from './annotations.ts';

const SLIDE = { slideId: 'd'.repeat(32), siteId: 'north' };
const actor = { id: 'u1', name: 'Ada', moderator: false };
let db: Db;
let svc: AnnotationService;

beforeEach(async () => {
  db = await openDb({ databaseUrl: '', sqliteFile: ':memory:' });
  svc = new AnnotationService(db);
});
afterEach(async () => {
  await db.destroy();
});

const create = (label: string, id: string = randomUUID()): CreateOperation => ({
  type: 'create',
  opId: randomUUID(),
  annotation: {
    id,
    kind: 'point',
    geometry: { points: [[1, 2]] },
    classification: { name: 'Tumor', color: '#c83232' },
    label,
  },
});

describe('AnnotationService.createBatch', () => {
  it('gives each operation its own seq and log row, after and before single operations', async () => {
    const first = await svc.apply(SLIDE, create('one'), actor);
    const batch = await svc.createBatch(SLIDE, [create('two'), create('three'), create('four')], actor);
    const last = await svc.apply(SLIDE, create('five'), actor);
    expect(batch.map((a) => a.seq)).toEqual([first.seq + 1, first.seq + 2, first.seq + 3]);
    expect(last.seq).toBe(first.seq + 4);
    expect(batch.map((a) => [a.type, a.version, a.annotation?.label, a.userId])).toEqual([
      ['create', 1, 'two', 'u1'],
      ['create', 1, 'three', 'u1'],
      ['create', 1, 'four', 'u1'],
    ]);
    // What a reconnecting client replays is what was broadcast.
    expect((await svc.since(SLIDE, first.seq))!.slice(0, 3)).toEqual(batch);
    expect((await svc.list(SLIDE)).map((a) => a.label).sort()).toEqual([
      'five',
      'four',
      'one',
      'three',
      'two',
    ]);
  });

  it('returns the first outcome of an operation it has seen, without applying it again', async () => {
    const op = create('once');
    const [a] = await svc.createBatch(SLIDE, [op], actor);
    const again = await svc.createBatch(SLIDE, [op, create('new')], actor);
    expect(again[0]).toEqual(a);
    expect(again[1]!.seq).toBe(a!.seq + 1);
    expect(await svc.list(SLIDE)).toHaveLength(2);
    await expect(
      svc.createBatch({ slideId: 'e'.repeat(32), siteId: 'north' }, [op], actor),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('refuses a batch that would overwrite an annotation, storing none of it', async () => {
    const taken = await svc.apply(SLIDE, create('first'), actor);
    const err = await svc
      .createBatch(SLIDE, [create('ok'), create('clash', taken.annotationId)], actor)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpRefused);
    expect(err).toMatchObject({ code: 'CONFLICT' });
    expect((await svc.list(SLIDE)).map((a) => a.label)).toEqual(['first']);
    expect(await svc.seq(SLIDE)).toBe(taken.seq);
  });
});
