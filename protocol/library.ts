import type { CaseDto } from './cases.ts';
import type { SlideDto } from './slides.ts';

/**
 * Keyset paging for the library, the case list and the audit trail:
 *
 *   GET /api/slides?cursor=&limit=50&q=&site=&case=&stain=&format=&from=&to=&sort=date|name&dir=asc|desc
 *   GET /api/cases?cursor=&limit=50&q=&site=&status=&subspecialty=&assignee=&sort=received|accession&dir=
 *   GET /api/audit?cursor=&limit=100&…
 *
 * `cursor` present (empty for the first page) asks for a page: `{items, nextCursor}`; pass
 * `nextCursor` back as `cursor` (with the same sort) for the next one; null at the end. A cursor is
 * opaque and stays valid while rows are added or removed: each row is listed once. `limit` is 1 to
 * `MAX_PAGE_LIMIT`; a bad cursor answers 400 INVALID_CURSOR, a bad limit 400 INVALID_PARAMETER.
 * Without `cursor` the slide list answers the first page as a plain array (older clients).
 */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const MAX_PAGE_LIMIT = 200;
export const DEFAULT_PAGE_LIMIT = 50;

export const SLIDE_SORTS = ['date', 'name'] as const;
export type SlideSort = (typeof SLIDE_SORTS)[number];
export const CASE_SORTS = ['received', 'accession'] as const;
export type CaseSort = (typeof CASE_SORTS)[number];
export type SortDir = 'asc' | 'desc';

export type SlidePage = Page<SlideDto>;
export type CasePage = Page<CaseDto>;

/** `PATCH /api/slides/{id}` body: the name the user's site gives the slide. */
export interface RenameSlideRequest {
  name: string;
}

/** `POST /api/slides/{id}/cases` body: the case (accession) to attach the slide to. */
export interface AttachSlideRequest {
  accession: string;
}

/** A slide a duplicate upload found already in the library (as the uploader's site names it). */
export interface DuplicateOf {
  slideId: string;
  name: string;
}
