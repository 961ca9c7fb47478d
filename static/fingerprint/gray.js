// RGBA -> Pillow 'L' conversion, as Image.convert('L') does it for RGB and RGBA images.
//
// Pillow uses the ITU-R 601-2 weights in 16-bit fixed point with rounding:
//   L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
// Alpha is ignored: a fully transparent pixel keeps its stored colour, as in the reference
// (this is why the decoder must not premultiply). The largest sum is below 2^24, so int32
// arithmetic is exact.
'use strict';

/** Convert one RGBA row (width pixels starting at byte `offset`) into `out[0..width)`. */
export function grayRowFromRGBA(data, offset, width, out) {
  for (let x = 0, i = offset; x < width; x++, i += 4) {
    out[x] = (data[i] * 19595 + data[i + 1] * 38470 + data[i + 2] * 7471 + 0x8000) >> 16;
  }
  return out;
}

/** Whole image: RGBA bytes -> Uint8Array of width*height grey values. */
export function grayFromRGBA(data, width, height) {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) grayRowFromRGBA(data, y * width * 4, width, out.subarray(y * width, (y + 1) * width));
  return out;
}
