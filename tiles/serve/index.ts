export {
  TileService,
  THUMBNAIL_MAX,
  type RenderRequest,
  type TileResult,
  type TileServiceOptions,
} from './service.ts';
export {
  RenderScheduler,
  RenderQueueFull,
  isRenderQueueFull,
  type RenderJob,
  type RenderSchedulerOptions,
} from './scheduler.ts';
export { StoredSlide } from './stored-slide.ts';
export { SourceSlide, whyNotServable, type SourceSlideOptions } from './source-slide.ts';
export {
  readTiffIndex,
  fileReader,
  tileLocation,
  type TiffIndex,
  type TiffLevel,
  type ReadAt,
} from '../tiff/pyramid-index.ts';
export { dziDescriptor, dziPlan } from './dzi.ts';
export {
  parseIiif,
  iiifInfo,
  servedSizes,
  iiifPlan,
  checkIiifRead,
  DEFAULT_IIIF_LIMITS,
  IIIF_CONTENT_TYPES,
  type IiifLimits,
  type IiifRequest,
  type IiifFormat,
} from './iiif.ts';
export {
  presentationManifest,
  presentationCanvas,
  presentationThumbnail,
  PRESENTATION_CONTEXT,
  PHYSDIM_PROFILE,
  type PresentationSlide,
  type PresentationManifestInput,
} from './iiif-presentation.ts';
export type { TilePlan, StoredPlan, RenderPlan, Rect, PyramidShape } from './plan.ts';
export { ByteLru, Flights } from './cache.ts';
