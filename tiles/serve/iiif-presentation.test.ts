import { describe, expect, it } from 'vitest';
import { storedLevels } from '../pyramid/math.ts';
import { DEFAULT_IIIF_LIMITS, parseIiif, servedSizes } from './iiif.ts';
import {
  PHYSDIM_PROFILE,
  PRESENTATION_CONTEXT,
  type PresentationSlide,
  presentationCanvas,
  presentationManifest,
} from './iiif-presentation.ts';

const BASE = 'https://tessera.example/iiif/3';

function slide(id: string, over: Partial<PresentationSlide> = {}, w = 2220, h = 2967): PresentationSlide {
  return {
    service: `${BASE}/${id}`,
    label: `Slide ${id}`,
    shape: { width: w, height: h, tileSize: 256, levelInfo: storedLevels(w, h, 256) },
    mppX: 0.499,
    mppY: 0.499,
    objectivePower: 20,
    ...over,
  };
}

type Obj = Record<string, unknown>;
const arr = (v: unknown): Obj[] => v as Obj[];

describe('presentationCanvas', () => {
  it('is the slide’s level 0 size, painted by its Image API 3 service', () => {
    const c = presentationCanvas(slide('a'));
    expect(c).toMatchObject({
      id: `${BASE}/a/canvas`,
      type: 'Canvas',
      label: { none: ['Slide a'] },
      width: 2220,
      height: 2967,
    });
    const page = arr(c.items)[0]!;
    expect(page).toMatchObject({ type: 'AnnotationPage', id: `${BASE}/a/canvas/page` });
    const anno = arr(page.items)[0]!;
    expect(anno).toMatchObject({ type: 'Annotation', motivation: 'painting', target: c.id });
    const body = anno.body as Obj;
    expect(body).toMatchObject({
      id: `${BASE}/a/full/max/0/default.jpg`,
      type: 'Image',
      format: 'image/jpeg',
      width: 2220,
      height: 2967,
    });
    expect(body.service).toEqual([{ id: `${BASE}/a`, type: 'ImageService3', profile: 'level2' }]);
  });

  it('the body’s size is what full/max answers within the limits', () => {
    const limits = { ...DEFAULT_IIIF_LIMITS, maxArea: 1_000_000 };
    const c = presentationCanvas(slide('a', {}, 60_000, 45_000), limits);
    const body = arr(arr(c.items)[0]!.items)[0]!.body as Obj;
    const max = parseIiif('full', 'max', '0', 'default.jpg', 60_000, 45_000, limits);
    expect([body.width, body.height]).toEqual([max.width, max.height]);
    expect(max.width * max.height).toBeLessThanOrEqual(1_000_000);
    expect([c.width, c.height]).toEqual([60_000, 45_000]);
  });

  it('its thumbnail is a size info.json lists, about 256 px on the long side', () => {
    for (const limits of [DEFAULT_IIIF_LIMITS, { ...DEFAULT_IIIF_LIMITS, maxWidth: 100, maxArea: 5000 }]) {
      const s = slide('a');
      const t = arr(presentationCanvas(s, limits).thumbnail)[0]!;
      const sizes = servedSizes(s.shape, limits);
      expect(sizes).toContainEqual({ width: t.width, height: t.height });
      expect(t.id).toBe(`${BASE}/a/full/${String(t.width)},${String(t.height)}/0/default.jpg`);
      expect(t.service).toEqual([{ id: `${BASE}/a`, type: 'ImageService3', profile: 'level2' }]);
    }
    const t = arr(presentationCanvas(slide('a')).thumbnail)[0]!;
    expect([t.width, t.height]).toEqual([277, 370]);
  });

  it('states the physical scale in mm per pixel when pixels are square and their size known', () => {
    const c = presentationCanvas(slide('a'));
    expect(c.service).toEqual([
      {
        id: `${BASE}/a/canvas#physdim`,
        type: 'PhysicalDimensions',
        profile: PHYSDIM_PROFILE,
        physicalScale: 0.000499,
        physicalUnits: 'mm',
      },
    ]);
    expect(c.metadata).toContainEqual({ label: { en: ['Pixel size'] }, value: { none: ['0.499 µm/px'] } });
    expect(c.metadata).toContainEqual({ label: { en: ['Objective'] }, value: { none: ['20x'] } });
    // Unknown, or not square: no scale a ruler could trust.
    const unknown = presentationCanvas(slide('b', { mppX: null, mppY: null, objectivePower: null }));
    expect(unknown.service).toBeUndefined();
    expect(JSON.stringify(unknown.metadata)).not.toMatch(/Pixel size|Objective/);
    const oblong = presentationCanvas(slide('c', { mppX: 0.25, mppY: 0.5 }));
    expect(oblong.service).toBeUndefined();
    expect(oblong.metadata).toContainEqual({
      label: { en: ['Pixel size'] },
      value: { none: ['0.25 x 0.5 µm/px'] },
    });
  });
});

describe('presentationManifest', () => {
  it('is a Presentation 3 Manifest with one Canvas per slide, in the order given', () => {
    const m = presentationManifest({
      id: `${BASE}/cases/x/manifest.json`,
      label: 'H26-0042',
      slides: [slide('a'), slide('b', {}, 1000, 777)],
    });
    expect(m['@context']).toBe(PRESENTATION_CONTEXT);
    expect(m).toMatchObject({ type: 'Manifest', label: { none: ['H26-0042'] }, behavior: ['individuals'] });
    expect(arr(m.items).map((c) => c.id)).toEqual([`${BASE}/a/canvas`, `${BASE}/b/canvas`]);
    expect(arr(m.items).map((c) => [c.width, c.height])).toEqual([
      [2220, 2967],
      [1000, 777],
    ]);
    expect(arr(m.thumbnail)[0]!.id).toMatch(`${BASE}/a/full/`);
    // Every id is an HTTP(S) URI, and no two resources share one.
    const ids: string[] = [];
    JSON.stringify(m, (k, v: unknown) => {
      if (k === 'id' && typeof v === 'string') ids.push(v);
      return v;
    });
    for (const id of ids) expect(id).toMatch(/^https?:\/\//);
    const resources = ids.filter((id) => !id.endsWith('/a') && !id.endsWith('/b') && !id.includes('/full/'));
    expect(new Set(resources).size).toBe(resources.length);
  });

  it('one slide: no behavior; no slide at all is refused (a Manifest needs a Canvas)', () => {
    const m = presentationManifest({ id: `${BASE}/a/manifest.json`, label: 'A', slides: [slide('a')] });
    expect(m.behavior).toBeUndefined();
    expect(arr(m.items)).toHaveLength(1);
    expect(() => presentationManifest({ id: `${BASE}/x`, label: 'x', slides: [] })).toThrow(RangeError);
  });
});
