import type { Db } from '../db/index.ts';

/**
 * Record that a user opened a slide in the viewer (its manifest was asked for): the first time stays,
 * the latest is updated. What makes a case's slide "read" for its first-unread slide.
 */
export async function recordRead(db: Db, userId: string, slideId: string, at = new Date()): Promise<void> {
  const now = at.toISOString();
  await db
    .insertInto('slide_reads')
    .values({ user_id: userId, slide_id: slideId, first_at: now, last_at: now })
    .onConflict((oc) => oc.columns(['user_id', 'slide_id']).doUpdateSet({ last_at: now }))
    .execute();
}

/** When `userId` first opened each of `slideIds` (slides never opened are absent). */
export async function readsOf(
  db: Db,
  userId: string,
  slideIds: readonly string[],
): Promise<Map<string, string>> {
  if (slideIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('slide_reads')
    .select(['slide_id', 'first_at'])
    .where('user_id', '=', userId)
    .where('slide_id', 'in', slideIds)
    .execute();
  return new Map(rows.map((r) => [r.slide_id, r.first_at]));
}
