import { describe, expect, it } from 'vitest';
import type { AnnotationDto, AnnotationPatch } from '../../../protocol/review.ts';
import type { NewAnnotationBody } from '../api.ts';
import { refusal, SlideAnnotations, VIEW_ONLY, type AnnotationApi } from './slide-annotations.ts';

interface Call {
  what: string;
  resolve: (v?: unknown) => void;
  reject: (e: unknown) => void;
}

/** A fake REST API whose answers the test gives, one call at a time. */
function fakeApi() {
  const calls: Call[] = [];
  const ask = <T>(what: string) =>
    new Promise<T>((resolve, reject) =>
      calls.push({ what, resolve: resolve as (v?: unknown) => void, reject }),
    );
  const api: AnnotationApi = {
    create: (_s, b: NewAnnotationBody) => ask<AnnotationDto>(`create ${b.id}`),
    update: (_s, id, p: AnnotationPatch) => ask<AnnotationDto>(`update ${id} ${JSON.stringify(p)}`),
    remove: (_s, id) => ask<void>(`delete ${id}`),
    comment: (_s, id, t) => ask<AnnotationDto>(`comment ${id} ${t}`),
  };
  return { api, calls };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const err = (status: number, code: string, message = code) =>
  Object.assign(new Error(message), { name: 'ApiError', status, code });

const RECT = {
  kind: 'rectangle' as const,
  geometry: {
    points: [
      [0, 0],
      [600, 600],
    ] as [number, number][],
  },
  classification: { name: 'Tumor', color: '#c83232' },
  label: '',
};

function server(id: string, over: Partial<AnnotationDto> = {}): AnnotationDto {
  return {
    id,
    slideId: 's1',
    ...RECT,
    authorId: 'u1',
    authorName: 'Nora North',
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    version: 1,
    comments: [],
    ...over,
  };
}

function store() {
  const { api, calls } = fakeApi();
  const errors: string[] = [];
  let n = 0;
  const s = new SlideAnnotations(
    's1',
    api,
    { id: 'u1', name: 'Nora North' },
    (m) => errors.push(m),
    () => `a${++n}`,
  );
  return { s, calls, errors };
}

describe('annotations outside a session (REST, optimistic)', () => {
  it('a new shape shows at once with its client-made id, then takes the server’s answer', async () => {
    const { s, calls } = store();
    const { id, saved } = s.create(RECT);
    expect(id).toBe('a1');
    expect(s.annotations.map((a) => [a.id, a.authorName, a.version])).toEqual([['a1', 'Nora North', 0]]);
    await tick();
    expect(calls.map((c) => c.what)).toEqual(['create a1']);
    calls[0]!.resolve(server('a1'));
    expect(await saved).toEqual({ ok: true });
    expect(s.annotations[0]!.version).toBe(1);
  });

  it('a share (403) takes the shape back off and says the slide is view only', async () => {
    const { s, calls, errors } = store();
    const { saved } = s.create(RECT);
    await tick();
    calls[0]!.reject(err(403, 'FORBIDDEN', 'you may not annotate this slide'));
    expect(await saved).toMatchObject({ ok: false, code: 'FORBIDDEN', message: VIEW_ONLY });
    expect(s.annotations).toEqual([]);
    expect(errors).toEqual([VIEW_ONLY]);
  });

  it('a change made while the shape is still being created waits for the creation', async () => {
    const { s, calls } = store();
    const { id } = s.create(RECT);
    const moved = s.update(id, { label: 'focus' });
    expect(s.annotations[0]!.label).toBe('focus');
    await tick();
    expect(calls.map((c) => c.what)).toEqual(['create a1']);
    calls[0]!.resolve(server('a1'));
    await tick();
    // The creation's answer did not put the old label back on the screen.
    expect(s.annotations[0]!.label).toBe('focus');
    expect(calls.map((c) => c.what)).toEqual(['create a1', 'update a1 {"label":"focus"}']);
    calls[1]!.resolve(server('a1', { label: 'focus', version: 2 }));
    expect(await moved).toEqual({ ok: true });
    expect(s.annotations[0]).toMatchObject({ label: 'focus', version: 2 });
  });

  it('a refused change (locked, 409) puts the last saved state back', async () => {
    const { s, calls, errors } = store();
    s.reset([server('x')]);
    const r = s.update('x', {
      geometry: {
        points: [
          [5, 5],
          [10, 10],
        ],
      },
    });
    expect(s.annotations[0]!.geometry.points[0]).toEqual([5, 5]);
    await tick();
    calls[0]!.reject(err(409, 'LOCKED'));
    expect(await r).toMatchObject({ ok: false, code: 'LOCKED' });
    expect(s.annotations[0]!.geometry.points[0]).toEqual([0, 0]);
    expect(errors[0]).toMatch(/locked/);
  });

  it('a delete shows at once and comes back when refused', async () => {
    const { s, calls, errors } = store();
    s.reset([server('x'), server('y')]);
    const r = s.remove('x');
    expect(s.annotations.map((a) => a.id)).toEqual(['y']);
    await tick();
    expect(calls[0]!.what).toBe('delete x');
    calls[0]!.reject(err(403, 'FORBIDDEN'));
    expect(await r).toMatchObject({ ok: false, message: VIEW_ONLY });
    expect(s.annotations.map((a) => a.id).sort()).toEqual(['x', 'y']);
    expect(errors).toEqual([VIEW_ONLY]);
  });

  it('discarding a shape whose creation is refused asks nothing more of the server', async () => {
    const { s, calls } = store();
    const { id } = s.create(RECT);
    const gone = s.remove(id);
    await tick();
    calls[0]!.reject(err(403, 'FORBIDDEN'));
    expect(await gone).toEqual({ ok: true });
    expect(calls).toHaveLength(1);
    expect(s.annotations).toEqual([]);
  });

  it('a reload keeps changes still on their way', async () => {
    const { s } = store();
    s.create(RECT);
    s.reset([server('other')]);
    expect(s.annotations.map((a) => a.id)).toEqual(['other', 'a1']);
  });

  it('comments come back as the annotation with its thread', async () => {
    const { s, calls } = store();
    s.reset([server('x')]);
    const r = s.comment('x', 'mitoses here');
    await tick();
    const c = { id: 'c1', authorId: 'u1', authorName: 'Nora North', text: 'mitoses here', at: 'now' };
    calls[0]!.resolve(server('x', { comments: [c], version: 2 }));
    expect(await r).toEqual({ ok: true });
    expect(s.annotations[0]!.comments).toEqual([c]);
  });

  it('reasons are told plainly', () => {
    expect(refusal(err(403, 'FORBIDDEN')).message).toBe(VIEW_ONLY);
    // On the site's own slide a refusal is about that annotation: the server's reason is shown.
    expect(refusal(err(403, 'FORBIDDEN', 'only its author may change it'), false).message).toBe(
      'only its author may change it',
    );
    expect(refusal(err(409, 'CONFLICT')).code).toBe('CONFLICT');
    expect(refusal(Object.assign(new Error('x'), { name: 'NetworkError' })).message).toMatch(/cannot reach/);
    expect(refusal(err(400, 'INVALID_PARAMETER', 'bad geometry')).message).toBe('not saved: bad geometry');
  });
});
