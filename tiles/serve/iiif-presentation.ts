import { DEFAULT_IIIF_LIMITS, type IiifLimits, parseSize, servedSizes } from './iiif.ts';
import type { PyramidShape } from './plan.ts';

/**
 * IIIF Presentation API 3.0 manifests, so IIIF viewers (Mirador, Universal Viewer) open slides: one
 * Canvas per slide, the size of its level 0, painted by the slide's Image API 3 service. No HTTP here:
 * the caller gives the URLs (as the client reached the server, or as configured) and the labels it
 * may show (a de-identified slide's study code, never its file name).
 */

export const PRESENTATION_CONTEXT = 'http://iiif.io/api/presentation/3/context.json';
/** The IIIF physical dimensions service: canvas pixels times physicalScale = millimetres on the glass. */
export const PHYSDIM_PROFILE = 'http://iiif.io/api/annex/services/physdim';

/** One slide as a manifest shows it. */
export interface PresentationSlide {
  /** The slide's Image API 3 service: `{base}/iiif/3/{id}`, its info.json one level below. */
  service: string;
  /** What the viewer calls the slide. */
  label: string;
  shape: PyramidShape;
  /** Micrometres per pixel of level 0, when the scanner said. */
  mppX: number | null;
  mppY: number | null;
  objectivePower: number | null;
}

type Json = Record<string, unknown>;
type LanguageMap = Record<string, string[]>;

/** Names and codes are in no language; the words around them are English. */
const none = (s: string): LanguageMap => ({ none: [s] });
const en = (s: string): LanguageMap => ({ en: [s] });

/** Thumbnails aim at this many pixels on the long side (a listed size, so no resampling of a level). */
const THUMBNAIL_TARGET = 256;

function imageService(s: PresentationSlide): Json {
  return { id: s.service, type: 'ImageService3', profile: 'level2' };
}

/**
 * The slide's thumbnail: the smallest whole-image size info.json lists with a long side of at least
 * THUMBNAIL_TARGET px (else the largest listed), so it is a size the server serves from one level.
 */
export function presentationThumbnail(s: PresentationSlide, limits: IiifLimits = DEFAULT_IIIF_LIMITS): Json {
  const sizes = servedSizes(s.shape, limits);
  const size = sizes.find((z) => Math.max(z.width, z.height) >= THUMBNAIL_TARGET) ?? sizes[sizes.length - 1]!;
  return {
    id: `${s.service}/full/${size.width},${size.height}/0/default.jpg`,
    type: 'Image',
    format: 'image/jpeg',
    width: size.width,
    height: size.height,
    service: [imageService(s)],
  };
}

/** Pixel size, objective and dimensions: what a pathologist reads as scale, in words. */
function technicalMetadata(s: PresentationSlide): Json[] {
  const out: Json[] = [{ label: en('Size'), value: none(`${s.shape.width} x ${s.shape.height} px`) }];
  if (s.mppX !== null) {
    const mpp = s.mppY === null || s.mppY === s.mppX ? `${s.mppX} µm/px` : `${s.mppX} x ${s.mppY} µm/px`;
    out.push({ label: en('Pixel size'), value: none(mpp) });
  }
  if (s.objectivePower !== null) out.push({ label: en('Objective'), value: none(`${s.objectivePower}x`) });
  return out;
}

/**
 * The physical dimensions service, when the pixels are square and their size known: a viewer's
 * ruler or scale bar. A rectangular pixel cannot be said with one scale, so then only the metadata
 * states it.
 */
function physicalDimensions(s: PresentationSlide, canvasId: string): Json | null {
  if (s.mppX === null || !(s.mppX > 0)) return null;
  if (s.mppY !== null && Math.abs(s.mppY - s.mppX) > s.mppX * 0.01) return null;
  return {
    id: `${canvasId}#physdim`,
    type: 'PhysicalDimensions',
    profile: PHYSDIM_PROFILE,
    physicalScale: s.mppX / 1000,
    physicalUnits: 'mm',
  };
}

/**
 * The Canvas of a slide: level 0's size, one painting Annotation whose body is the whole image
 * (`full/max`, its size within the server's limits) with the slide's Image API service, a thumbnail,
 * and the physical scale when known. Ids hang under the image service so a slide's Canvas is the same
 * in every manifest that holds it.
 */
export function presentationCanvas(s: PresentationSlide, limits: IiifLimits = DEFAULT_IIIF_LIMITS): Json {
  const { width, height } = s.shape;
  const id = `${s.service}/canvas`;
  const max = parseSize('max', { x: 0, y: 0, width, height }, limits);
  const physdim = physicalDimensions(s, id);
  return {
    id,
    type: 'Canvas',
    label: none(s.label),
    width,
    height,
    metadata: technicalMetadata(s),
    thumbnail: [presentationThumbnail(s, limits)],
    ...(physdim ? { service: [physdim] } : {}),
    items: [
      {
        id: `${id}/page`,
        type: 'AnnotationPage',
        items: [
          {
            id: `${id}/page/image`,
            type: 'Annotation',
            motivation: 'painting',
            body: {
              id: `${s.service}/full/max/0/default.jpg`,
              type: 'Image',
              format: 'image/jpeg',
              width: max.width,
              height: max.height,
              service: [imageService(s)],
            },
            target: id,
          },
        ],
      },
    ],
  };
}

export interface PresentationManifestInput {
  /** The manifest's own URL. */
  id: string;
  label: string;
  /** At least one: a Manifest without a Canvas is not valid. */
  slides: readonly PresentationSlide[];
  /** Label/value pairs to show beside the manifest (already fit for whoever asked). */
  metadata?: readonly { label: string; value: string }[];
  limits?: IiifLimits;
}

/**
 * A Presentation 3 Manifest with one Canvas per slide, in the order given. Several slides are
 * separate objects (the sections of a case), not pages of one: `behavior: individuals`.
 */
export function presentationManifest(m: PresentationManifestInput): Json {
  if (m.slides.length === 0) throw new RangeError('Expected at least one slide for a manifest');
  const limits = m.limits ?? DEFAULT_IIIF_LIMITS;
  const canvases = m.slides.map((s) => presentationCanvas(s, limits));
  const metadata = (m.metadata ?? []).map((x) => ({ label: en(x.label), value: none(x.value) }));
  return {
    '@context': PRESENTATION_CONTEXT,
    id: m.id,
    type: 'Manifest',
    label: none(m.label),
    ...(metadata.length > 0 ? { metadata } : {}),
    thumbnail: [presentationThumbnail(m.slides[0]!, limits)],
    ...(m.slides.length > 1 ? { behavior: ['individuals'] } : {}),
    items: canvases,
  };
}
