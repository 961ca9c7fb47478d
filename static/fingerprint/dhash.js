// imagehash.dhash (hash_size=8): L image -> LANCZOS resize to 9 wide x 8 high (Pillow 13.0)
// -> bit = pixel > its left neighbour, row-major, most significant first.
'use strict';

import { bitsToHex } from './hex.js';
import { resizeGray } from './resize.js';

export const DHASH_WIDTH = 9;
export const DHASH_HEIGHT = 8;

/** dhash from the already-resized 9x8 grey pixels (row-major, 9 per row). */
export function dhashFromResized(pixels9x8) {
  if (pixels9x8.length !== 72) throw new RangeError('dhash needs 9x8 pixels');
  const bits = new Uint8Array(64);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) bits[y * 8 + x] = pixels9x8[y * 9 + x + 1] > pixels9x8[y * 9 + x] ? 1 : 0;
  }
  return bitsToHex(bits);
}

export function dhashFromGray(gray, width, height) {
  return dhashFromResized(resizeGray(gray, width, height, DHASH_WIDTH, DHASH_HEIGHT));
}
