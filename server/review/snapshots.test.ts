import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDb } from '../db/index.ts';
import { AnnotationService } from './annotations.ts';
import { AnnotationSnapshots } from './snapshots.ts';

const SCOPE = { slideId: 'f'.repeat(32), siteId: 'north' };
const OTHER = { slideId: 'f'.repeat(32), siteId: 'south' };
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

const create = (label: string) => ({
  type: 'create' as const,
  opId: randomUUID(),
  annotation: {
    id: randomUUID(),
    kind: 'point' as const,
    geometry: { points: [[1, 2]] as [number, number][] },
    classification: { name: 'Tumor', color: '#c83232' },
    // A label that spells out a key must not be mistaken for it.
    label: `${label} "createdAt":"0000" "id":"zzz"`,
  },
});

describe('AnnotationSnapshots', () => {
  it('encodes, page by page from the stored JSON, exactly what list() gives, in its order, gzipped', async () => {
    const made = [];
    // More than one page (2,000 rows), created in an order unlike their ids' order.
    for (let i = 0; i < 2300; i += 100)
      made.push(
        ...(await svc.createBatch(
          SCOPE,
          Array.from({ length: 100 }, (_, k) => create(`n${i + k}`)),
          actor,
        )),
      );
    await svc.apply(
      SCOPE,
      { type: 'update', opId: randomUUID(), id: made[5]!.annotationId, patch: { label: 'changed' } },
      actor,
    );
    await svc.apply(
      SCOPE,
      { type: 'comment', opId: randomUUID(), id: made[7]!.annotationId, text: 'see "id":"x"' },
      actor,
    );
    await svc.apply(SCOPE, { type: 'delete', opId: randomUUID(), id: made[9]!.annotationId }, actor);
    await svc.apply(OTHER, create('south only'), actor);

    const { snapshot, replay } = await new AnnotationSnapshots(svc).get(SCOPE);
    const json = gunzipSync(snapshot.bytes).toString('utf8');
    // The same annotations as the list, in key order (the client orders them).
    const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : 1);
    const listed = await svc.list(SCOPE);
    expect(JSON.parse(json)).toEqual([...listed].sort(byId));
    expect(JSON.parse(json)).toHaveLength(2299);
    // Compressed: far fewer bytes go to each joiner than the JSON holds.
    expect(snapshot.bytes.byteLength).toBeLessThan(json.length / 4);
    expect(snapshot.seq).toBe(await svc.seq(SCOPE));
    expect(replay).toEqual([]);
  });
});
