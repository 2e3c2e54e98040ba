import { randomUUID } from 'node:crypto';
import type { AnnotationDto, AppliedOp, Operation, OpResult } from '../../protocol/index.ts';
import { isUniqueViolation, locksRows, type Db } from '../db/index.ts';
import type { AnnotationOpsTable } from '../db/schema.ts';

/** A create operation (the only kind an import makes). */
export type CreateOperation = Extract<Operation, { type: 'create' }>;

/** Who applies an operation, and whether they may change other people's annotations (session host). */
export interface Actor {
  id: string;
  name: string;
  /** May edit and delete annotations of others (the host of a session on this slide; admins). */
  moderator: boolean;
}

export class OpRefused extends Error {
  constructor(
    readonly code: 'CONFLICT' | 'FORBIDDEN' | 'NOT_FOUND' | 'LOCKED',
    message: string,
  ) {
    super(message);
  }
}

function applied(r: AnnotationOpsTable & { seq: number }): AppliedOp {
  return {
    seq: Number(r.seq),
    opId: r.op_id,
    slideId: r.slide_id,
    type: r.type as AppliedOp['type'],
    annotationId: r.annotation_id,
    userId: r.user_id,
    version: r.after
      ? (JSON.parse(r.after) as AnnotationDto).version
      : (JSON.parse(r.before ?? '{"version":0}') as AnnotationDto).version + 1,
    annotation: r.after ? (JSON.parse(r.after) as AnnotationDto) : null,
    at: r.at,
  };
}

/**
 * Whose annotations of a slide: a slide owned by several sites (the same file uploaded at each) has
 * one set per owning site, and nobody outside a site sees its set except in a session it hosts.
 */
export interface AnnotationScope {
  slideId: string;
  /** The owning site (null only for a slide no site owns, seen by administrators). */
  siteId: string | null;
}

/** A new annotation as a create operation by `actor` makes it (optional fields only when given). */
function created(op: CreateOperation, slideId: string, actor: Actor, now: string): AnnotationDto {
  const a = op.annotation;
  return {
    id: a.id,
    slideId,
    kind: a.kind,
    geometry: a.geometry,
    classification: a.classification,
    label: a.label,
    ...(a.color !== undefined && { color: a.color }),
    ...(a.locked !== undefined && { locked: a.locked }),
    ...(a.objectType !== undefined && { objectType: a.objectType }),
    ...(a.nucleus !== undefined && { nucleus: a.nucleus }),
    ...(a.measurements !== undefined && { measurements: a.measurements }),
    authorId: actor.id,
    authorName: actor.name,
    createdAt: now,
    updatedAt: now,
    version: 1,
    comments: [],
  };
}

/** The row of a newly created annotation. */
const newRow = (scope: AnnotationScope, after: AnnotationDto, doc: string, now: string) => ({
  id: after.id,
  slide_id: scope.slideId,
  site_id: scope.siteId,
  author_id: after.authorId,
  deleted: 0,
  version: 1,
  doc,
  updated_at: now,
});

/** The fields a patch sets (a key present with `undefined` sets nothing; null does clear). */
function definedFields<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const inScope = (r: { slide_id: string; site_id: string | null }, s: AnnotationScope): boolean =>
  r.slide_id === s.slideId && r.site_id === s.siteId;

/**
 * The annotations of every slide, changed only through operations: each one checked, applied and
 * logged with its sequence number in one transaction, before anyone hears of it.
 */
export class AnnotationService {
  constructor(private readonly db: Db) {}

  /** Apply `op` in `scope`; a repeated opId returns the first outcome without applying again. */
  async apply(scope: AnnotationScope, op: Operation, actor: Actor): Promise<AppliedOp> {
    try {
      return await this.applyOnce(scope, op, actor);
    } catch (e) {
      // The same operation (a client's retry) or annotation id committed by a concurrent
      // transaction: asked again, it is seen (its first outcome) or refused as a conflict.
      if (isUniqueViolation(e)) return this.applyOnce(scope, op, actor);
      throw e;
    }
  }

  private async applyOnce(scope: AnnotationScope, op: Operation, actor: Actor): Promise<AppliedOp> {
    const { slideId } = scope;
    return this.db.transaction().execute(async (trx) => {
      const seen = await trx
        .selectFrom('annotation_ops')
        .selectAll()
        .where('op_id', '=', op.opId)
        .executeTakeFirst();
      if (seen) {
        if (!inScope(seen, scope)) throw new OpRefused('CONFLICT', 'operation id reused');
        return applied(seen as AnnotationOpsTable & { seq: number });
      }
      const now = new Date().toISOString();
      const annotationId = op.type === 'create' ? op.annotation.id : op.id;
      const row = await trx
        .selectFrom('annotations')
        .selectAll()
        .where('id', '=', annotationId)
        .$if(locksRows(trx), (q) => q.forUpdate())
        .executeTakeFirst();
      if (row && !inScope(row, scope))
        throw new OpRefused('NOT_FOUND', `no annotation ${annotationId} on this slide`);
      const before = row ? (JSON.parse(row.doc) as AnnotationDto) : null;
      let after: AnnotationDto | null;
      let deleted = false;
      if (op.type === 'create') {
        if (row) throw new OpRefused('CONFLICT', `annotation ${annotationId} exists`);
        after = created(op, slideId, actor, now);
      } else {
        if (!row || !before) throw new OpRefused('NOT_FOUND', `no annotation ${annotationId}`);
        if (op.type !== 'comment' && before.authorId !== actor.id && !actor.moderator)
          throw new OpRefused(
            'FORBIDDEN',
            'only its author or a moderator (the session host, the site’s lab manager, an administrator) may change this annotation',
          );
        if ('ifVersion' in op && op.ifVersion !== undefined && op.ifVersion !== row.version)
          throw new OpRefused('CONFLICT', 'changed by someone else since');
        const isDeleted = row.deleted !== 0;
        if (op.type === 'restore') {
          if (!isDeleted) throw new OpRefused('CONFLICT', 'annotation is not deleted');
        } else if (isDeleted) throw new OpRefused('NOT_FOUND', `annotation ${annotationId} was deleted`);
        // Locked (as in QuPath): its outline stays and it is not deleted; label, class and colour
        // may change, and a patch that unlocks may move it in the same step.
        if (
          before.locked === true &&
          (op.type === 'delete' ||
            (op.type === 'update' && op.patch.geometry !== undefined && op.patch.locked !== false))
        )
          throw new OpRefused('LOCKED', 'this annotation is locked: unlock it first');
        const version = row.version + 1;
        switch (op.type) {
          case 'update':
            after = { ...before, ...definedFields(op.patch), version, updatedAt: now };
            break;
          case 'delete':
            after = { ...before, version, updatedAt: now };
            deleted = true;
            break;
          case 'restore':
            after = { ...before, version, updatedAt: now };
            break;
          case 'comment':
            after = {
              ...before,
              version,
              updatedAt: now,
              comments: [
                ...before.comments,
                { id: randomUUID(), authorId: actor.id, authorName: actor.name, text: op.text, at: now },
              ],
            };
            break;
        }
      }
      const doc = JSON.stringify(after);
      if (row) {
        await trx
          .updateTable('annotations')
          .set({ doc, version: after.version, deleted: deleted ? 1 : 0, updated_at: now })
          .where('id', '=', annotationId)
          .execute();
      } else {
        await trx
          .insertInto('annotations')
          .values(newRow(scope, after, doc, now))
          .execute();
      }
      const logged = await trx
        .insertInto('annotation_ops')
        .values({
          op_id: op.opId,
          slide_id: slideId,
          site_id: scope.siteId,
          annotation_id: annotationId,
          user_id: actor.id,
          type: op.type,
          after: deleted ? null : doc,
          before: before ? JSON.stringify(before) : null,
          at: now,
        })
        .returning('seq')
        .executeTakeFirstOrThrow();
      return {
        seq: Number(logged.seq),
        opId: op.opId,
        slideId,
        type: op.type,
        annotationId,
        userId: actor.id,
        version: after.version,
        annotation: deleted ? null : after,
        at: now,
      };
    });
  }

  /** Apply, turning a refusal into an OpResult for the socket ack. */
  async tryApply(
    scope: AnnotationScope,
    op: Operation,
    actor: Actor,
  ): Promise<{ result: OpResult; applied: AppliedOp | null }> {
    try {
      const a = await this.apply(scope, op, actor);
      return { result: { ok: true, seq: a.seq, version: a.version, annotation: a.annotation }, applied: a };
    } catch (e) {
      if (e instanceof OpRefused)
        return { result: { ok: false, code: e.code, message: e.message }, applied: null };
      throw e;
    }
  }

  /**
   * Create many annotations by `actor` in one transaction, as apply() would one by one: each
   * operation gets its own seq and operation-log row, a repeated opId returns its first outcome, an
   * existing annotation id refuses the batch (CONFLICT). One multi-row insert per table instead of a
   * transaction per operation; callers keep batches to a few hundred and yield between them.
   */
  async createBatch(scope: AnnotationScope, ops: CreateOperation[], actor: Actor): Promise<AppliedOp[]> {
    const { slideId } = scope;
    if (ops.length === 0) return [];
    const opIds = ops.map((o) => o.opId);
    if (new Set(opIds).size !== opIds.length) throw new OpRefused('CONFLICT', 'operation id repeated');
    return this.db.transaction().execute(async (trx) => {
      const seenRows = await trx
        .selectFrom('annotation_ops')
        .selectAll()
        .where('op_id', 'in', opIds)
        .execute();
      const seen = new Map<string, AppliedOp>();
      for (const r of seenRows) {
        if (!inScope(r, scope)) throw new OpRefused('CONFLICT', 'operation id reused');
        seen.set(r.op_id, applied(r as AnnotationOpsTable & { seq: number }));
      }
      const fresh = ops.filter((o) => !seen.has(o.opId));
      const ids = fresh.map((o) => o.annotation.id);
      if (new Set(ids).size !== ids.length) throw new OpRefused('CONFLICT', 'annotation id repeated');
      if (fresh.length === 0) return ops.map((o) => seen.get(o.opId)!);
      const taken = await trx
        .selectFrom('annotations')
        .select('id')
        .where('id', 'in', ids)
        .executeTakeFirst();
      if (taken) throw new OpRefused('CONFLICT', `annotation ${taken.id} exists`);
      const now = new Date().toISOString();
      const docs = fresh.map((op) => {
        const after = created(op, slideId, actor, now);
        return { op, after, doc: JSON.stringify(after) };
      });
      await trx
        .insertInto('annotations')
        .values(docs.map(({ after, doc }) => newRow(scope, after, doc, now)))
        .execute();
      const logged = await trx
        .insertInto('annotation_ops')
        .values(
          docs.map(({ op, doc }) => ({
            op_id: op.opId,
            slide_id: slideId,
            site_id: scope.siteId,
            annotation_id: op.annotation.id,
            user_id: actor.id,
            type: 'create',
            after: doc,
            before: null,
            at: now,
          })),
        )
        .returning(['seq', 'op_id'])
        .execute();
      // Matched by opId: neither database promises RETURNING rows in VALUES order.
      const seqOf = new Map(logged.map((r) => [r.op_id, Number(r.seq)]));
      for (const { op, after } of docs)
        seen.set(op.opId, {
          seq: seqOf.get(op.opId)!,
          opId: op.opId,
          slideId,
          type: 'create',
          annotationId: after.id,
          userId: actor.id,
          version: 1,
          annotation: after,
          at: now,
        });
      return ops.map((o) => seen.get(o.opId)!).sort((a, b) => a.seq - b.seq);
    });
  }

  /** Live annotations of a slide in one site's set, oldest first. */
  async list(scope: AnnotationScope): Promise<AnnotationDto[]> {
    return (await this.listDocs(scope)).map((d) => JSON.parse(d) as AnnotationDto);
  }

  /**
   * The same list as stored JSON documents, never parsed: joined into a response as they are, 5,000
   * annotations cost the event loop a few ms instead of ~70 ms of parsing and stringifying (time
   * every tile request waited behind).
   */
  async listDocs(scope: AnnotationScope): Promise<string[]> {
    const rows = await this.db
      .selectFrom('annotations')
      .select(['id', 'doc'])
      .where('slide_id', '=', scope.slideId)
      .where('site_id', scope.siteId === null ? 'is' : '=', scope.siteId)
      .where('deleted', '=', 0)
      .execute();
    const keyed = rows.map((r) => ({ key: createdAtOf(r.doc) + r.id, doc: r.doc }));
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return keyed.map((k) => k.doc);
  }

  /**
   * The stored JSON of every live annotation in a scope, `pageSize` rows a query in key order (the
   * caller may yield between pages); the documents are handed on as stored, never parsed.
   */
  async *docPages(scope: AnnotationScope, pageSize = 2000): AsyncGenerator<string[]> {
    let after = '';
    for (;;) {
      const rows = await this.db
        .selectFrom('annotations')
        .select(['id', 'doc'])
        .where('slide_id', '=', scope.slideId)
        .where('site_id', scope.siteId === null ? 'is' : '=', scope.siteId)
        .where('deleted', '=', 0)
        .where('id', '>', after)
        .orderBy('id')
        .limit(pageSize)
        .execute();
      if (rows.length === 0) return;
      yield rows.map((r) => r.doc);
      after = rows[rows.length - 1]!.id;
      if (rows.length < pageSize) return;
    }
  }

  /** The highest seq applied in a scope (0: none). */
  async seq(scope: AnnotationScope): Promise<number> {
    const r = await this.db
      .selectFrom('annotation_ops')
      .select((eb) => eb.fn.max('seq').as('m'))
      .where('slide_id', '=', scope.slideId)
      .where('site_id', scope.siteId === null ? 'is' : '=', scope.siteId)
      .executeTakeFirst();
    return Number(r?.m ?? 0);
  }

  /** Operations after `seq` on a slide, in order; null when there are more than `max` (send the state). */
  async since(scope: AnnotationScope, seq: number, max = 5000): Promise<AppliedOp[] | null> {
    const rows = await this.db
      .selectFrom('annotation_ops')
      .selectAll()
      .where('slide_id', '=', scope.slideId)
      .where('site_id', scope.siteId === null ? 'is' : '=', scope.siteId)
      .where('seq', '>', seq)
      .orderBy('seq')
      .limit(max + 1)
      .execute();
    if (rows.length > max) return null;
    return rows.map((r) => applied(r as AnnotationOpsTable & { seq: number }));
  }
}

const CREATED = '"createdAt":"';

/**
 * An annotation document's `createdAt` (an ISO 8601 UTC instant, so ordered as text), read without
 * parsing the document; parsed only when the document is not in the stored form.
 */
export function createdAtOf(doc: string): string {
  const at = doc.indexOf(CREATED);
  if (at >= 0) {
    const end = doc.indexOf('"', at + CREATED.length);
    if (end > 0) return doc.slice(at + CREATED.length, end);
  }
  return String((JSON.parse(doc) as { createdAt?: unknown }).createdAt ?? '');
}
