// imagehash.phash (hash_size=8, highfreq_factor=4) with Pillow 13.0 and scipy's pocketfft:
//   L image -> LANCZOS resize to 32x32 -> DCT-II along axis 0 then axis 1 (scipy.fftpack,
//   unnormalised, float64) -> top-left 8x8 -> numpy.median (mean of the 32nd and 33rd values)
//   -> bit = value > median, row-major, most significant first.
'use strict';

import { dct2d32 } from './dct.js';
import { bitsToHex } from './hex.js';
import { resizeGray } from './resize.js';

export const PHASH_SIZE = 32;

/** phash from the already-resized 32x32 grey pixels (row-major). */
export function phashFromResized(pixels32) {
  if (pixels32.length !== 1024) throw new RangeError('phash needs 32x32 pixels');
  const dct = dct2d32(pixels32, 8);
  const low = new Float64Array(64);
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) low[i * 8 + j] = dct[i * 32 + j];
  // numeric sort (TypedArray sort is numeric; Array#sort would be lexicographic)
  const sorted = Float64Array.from(low).sort();
  const median = (sorted[31] + sorted[32]) / 2; // numpy.median for an even count
  const bits = new Uint8Array(64);
  for (let k = 0; k < 64; k++) bits[k] = low[k] > median ? 1 : 0;
  return bitsToHex(bits);
}

/** phash of a grey image (Pillow 'L' values, row-major). */
export function phashFromGray(gray, width, height) {
  return phashFromResized(resizeGray(gray, width, height, PHASH_SIZE, PHASH_SIZE));
}
