import type { AnnotationClass, AnnotationKind, AnnotationPatch, Geometry } from '../../../protocol/review.ts';
import type { SlideAnnotations } from './slide-annotations.ts';
import type { Room } from './useReviewRoom.ts';

export interface NewShape {
  kind: AnnotationKind;
  geometry: Geometry;
  classification: AnnotationClass | null;
  label: string;
}

export type CreateResult = { ok: true; id: string } | { ok: false; code: string; message: string };

/**
 * Changing annotations, the same for the viewer and the list whether a live session is open (the
 * session's operations) or not (the REST API). Refusals are reported by each side itself (the
 * session's notice, the store's); the results here say only what happened.
 */
export interface AnnotationOps {
  /** `id`: known at once when the shape shows before the server answers. */
  create(a: NewShape): { id: string | null; result: Promise<CreateResult> };
  update(id: string, patch: AnnotationPatch): void;
  remove(id: string): void;
  comment(id: string, text: string): Promise<boolean>;
}

export function roomOps(room: Room): AnnotationOps {
  return {
    create: (a) => ({
      id: null,
      result: room
        .create(a)
        .then((id): CreateResult =>
          id ? { ok: true, id } : { ok: false, code: 'REFUSED', message: room.notice ?? 'not saved' },
        ),
    }),
    update: room.update,
    remove: room.remove,
    comment: room.comment,
  };
}

export function restOps(store: SlideAnnotations): AnnotationOps {
  return {
    create: (a) => {
      const { id, saved } = store.create(a);
      return { id, result: saved.then((r): CreateResult => (r.ok ? { ok: true, id } : r)) };
    },
    update: (id, patch) => void store.update(id, patch),
    remove: (id) => void store.remove(id),
    comment: (id, text) => store.comment(id, text).then((r) => r.ok),
  };
}
