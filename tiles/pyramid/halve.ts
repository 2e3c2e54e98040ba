/**
 * Each 2 x 2 pixel block of `src` (RGB, `sw` px a row) from (sx, sy) averaged, rounding to nearest,
 * into a w x h region of `dst` (RGB, `dw` px a row) at (dx, dy): the box filter of a pyramid level.
 * The caller keeps every read inside `src` (2w columns from sx, 2h rows from sy).
 */
export function halveRegion(
  src: Buffer,
  sw: number,
  sx: number,
  sy: number,
  dst: Buffer,
  dw: number,
  dx: number,
  dy: number,
  w: number,
  h: number,
): void {
  const srcRow = sw * 3;
  for (let y = 0; y < h; y++) {
    let a = ((sy + 2 * y) * sw + sx) * 3;
    let b = a + srcRow;
    let o = ((dy + y) * dw + dx) * 3;
    const end = o + w * 3;
    while (o < end) {
      dst[o] = (src[a]! + src[a + 3]! + src[b]! + src[b + 3]! + 2) >> 2;
      dst[o + 1] = (src[a + 1]! + src[a + 4]! + src[b + 1]! + src[b + 4]! + 2) >> 2;
      dst[o + 2] = (src[a + 2]! + src[a + 5]! + src[b + 2]! + src[b + 5]! + 2) >> 2;
      a += 6;
      b += 6;
      o += 3;
    }
  }
}
