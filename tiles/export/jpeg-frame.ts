import { findSegment } from '../serve/jpeg.ts';

/** What a DICOM header must say about a JPEG it carries as a frame. */
export interface JpegFrameInfo {
  /** SOF marker: 0xc0 baseline, 0xc1 extended sequential, 0xc2 progressive. */
  sof: number;
  bits: number;
  width: number;
  height: number;
  components: number;
  /** The DICOM Photometric Interpretation of the decoded stream (PS3.5 8.2.1). */
  photometric: 'MONOCHROME2' | 'RGB' | 'YBR_FULL_422' | 'YBR_FULL';
}

/** Reads the frame header (and an Adobe APP14 colour transform) of a complete JPEG; null without one. */
export function jpegFrameInfo(jpeg: Buffer): JpegFrameInfo | null {
  const p = findSegment(jpeg, [0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
  if (p < 0 || p + 10 > jpeg.length) return null;
  const components = jpeg[p + 9]!;
  const sampling: number[] = [];
  for (let c = 0; c < components && p + 12 + c * 3 <= jpeg.length; c++) sampling.push(jpeg[p + 11 + c * 3]!);
  let photometric: JpegFrameInfo['photometric'] = 'MONOCHROME2';
  if (components === 3) {
    const adobe = findSegment(jpeg, [0xee]);
    // Adobe transform 0 means the components are R, G, B; libjpeg also takes component ids
    // 'R','G','B' without a JFIF marker as RGB.
    const transform0 = adobe >= 0 && adobe + 15 < jpeg.length && jpeg[adobe + 15] === 0;
    const ids = [jpeg[p + 10], jpeg[p + 13], jpeg[p + 16]];
    const rgbIds = ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42 && findSegment(jpeg, [0xe0]) < 0;
    if (transform0 || rgbIds) photometric = 'RGB';
    else photometric = sampling.every((s) => s === sampling[0]) ? 'YBR_FULL' : 'YBR_FULL_422';
  }
  return {
    sof: jpeg[p + 1]!,
    bits: jpeg[p + 4]!,
    height: jpeg.readUInt16BE(p + 5),
    width: jpeg.readUInt16BE(p + 7),
    components,
    photometric,
  };
}
