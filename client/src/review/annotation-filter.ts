import type { AnnotationDto } from '../../../protocol/review.ts';
import { UNCLASSIFIED, annotationColour } from './constants.ts';

/** Which annotations are shown, on the slide and in the list alike. */
export interface AnnotationFilter {
  /** Class names hidden ("Unclassified" for annotations without a class). */
  hiddenClasses: ReadonlySet<string>;
  /** Only this author's (user id); null: everyone's. */
  author: string | null;
}

export const NO_FILTER: AnnotationFilter = { hiddenClasses: new Set(), author: null };

type Filterable = Pick<AnnotationDto, 'classification' | 'authorId'>;

export const classNameOf = (a: Pick<AnnotationDto, 'classification'>): string =>
  (a.classification ?? UNCLASSIFIED).name;

export function passes(a: Filterable, f: AnnotationFilter): boolean {
  return !f.hiddenClasses.has(classNameOf(a)) && (f.author === null || a.authorId === f.author);
}

export function applyFilter<T extends Filterable>(list: readonly T[], f: AnnotationFilter): T[] {
  if (f.hiddenClasses.size === 0 && f.author === null) return [...list];
  return list.filter((a) => passes(a, f));
}

export function isFiltered(f: AnnotationFilter): boolean {
  return f.hiddenClasses.size > 0 || f.author !== null;
}

export interface ClassCount {
  name: string;
  color: string;
  count: number;
}

/**
 * The classes present on the slide with how many of each, in palette order, then any others by
 * name, and unclassified last; a palette class with none is left out.
 */
export function classCounts(
  list: readonly Pick<AnnotationDto, 'classification' | 'color'>[],
  palette: readonly { name: string; color: string }[],
): ClassCount[] {
  const counts = new Map<string, ClassCount>();
  for (const a of list) {
    const name = classNameOf(a);
    const c = counts.get(name);
    if (c) c.count++;
    else
      counts.set(name, {
        name,
        color: palette.find((p) => p.name === name)?.color ?? a.classification?.color ?? annotationColour(a),
        count: 1,
      });
  }
  const rank = (n: string): number => {
    if (n === UNCLASSIFIED.name) return Number.MAX_SAFE_INTEGER;
    const i = palette.findIndex((p) => p.name === n);
    return i < 0 ? palette.length : i;
  };
  return [...counts.values()].sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

export interface AuthorCount {
  id: string;
  name: string;
  count: number;
}

/** Everyone who drew on the slide, by name. */
export function authorsOf(list: readonly Pick<AnnotationDto, 'authorId' | 'authorName'>[]): AuthorCount[] {
  const m = new Map<string, AuthorCount>();
  for (const a of list) {
    const c = m.get(a.authorId);
    if (c) c.count++;
    else m.set(a.authorId, { id: a.authorId, name: a.authorName, count: 1 });
  }
  return [...m.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Show or hide one class. */
export function toggleClass(f: AnnotationFilter, name: string): AnnotationFilter {
  const hidden = new Set(f.hiddenClasses);
  if (hidden.has(name)) hidden.delete(name);
  else hidden.add(name);
  return { ...f, hiddenClasses: hidden };
}
