// imagehash.average_hash (hash_size=8): L image -> LANCZOS resize to 8x8 (Pillow 13.0) ->
// bit = pixel > numpy.mean(pixels), row-major, most significant first.
// The mean of 64 uint8 values is sum/64, exact in float64, so `pixel > sum / 64` is exactly
// `64 * pixel > sum` and integer arithmetic gives the same bits.
'use strict';

import { bitsToHex } from './hex.js';
import { resizeGray } from './resize.js';

export const AHASH_SIZE = 8;

export function ahashFromResized(pixels8x8) {
  if (pixels8x8.length !== 64) throw new RangeError('average_hash needs 8x8 pixels');
  let sum = 0;
  for (let i = 0; i < 64; i++) sum += pixels8x8[i];
  const bits = new Uint8Array(64);
  for (let i = 0; i < 64; i++) bits[i] = pixels8x8[i] * 64 > sum ? 1 : 0;
  return bitsToHex(bits);
}

export function ahashFromGray(gray, width, height) {
  return ahashFromResized(resizeGray(gray, width, height, AHASH_SIZE, AHASH_SIZE));
}
