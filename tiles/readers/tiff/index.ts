import type { SlideReader } from '../types.ts';
import { genericTiffReader } from './generic.ts';
import { omeTiffReader } from './ome.ts';
import { qptiffReader } from './qptiff.ts';
import { svsReader } from './svs.ts';

/** TIFF-family readers: vendor dialects (priority 80) above any other TIFF (priority 40). */
export const tiffReaders: SlideReader[] = [svsReader, omeTiffReader, qptiffReader, genericTiffReader];

export { MAX_SLIDE_PIXELS, MAX_SLIDE_SIDE, checkSlideSize } from './common.ts';
export { svsReader, omeTiffReader, qptiffReader, genericTiffReader };
