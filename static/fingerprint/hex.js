// Hex formatting shared by the hash modules. Bits are written most significant first, as
// imagehash's _binary_array_to_hex does ('{:0>{width}x}'.format(int(bit_string, 2))).
'use strict';

const NIBBLE = '0123456789abcdef';

/**
 * @param {ArrayLike<number>} bits 0/1 values, most significant first
 * @returns {string} lowercase hex, zero-padded to ceil(bits.length / 4) digits
 */
export function bitsToHex(bits) {
  const n = bits.length;
  let out = '';
  // A leading partial nibble holds the first n % 4 bits (left zero padding).
  let i = 0;
  const lead = n % 4;
  if (lead) {
    let v = 0;
    for (; i < lead; i++) v = (v << 1) | (bits[i] ? 1 : 0);
    out += NIBBLE[v];
  }
  for (; i < n; i += 4) {
    const v = ((bits[i] ? 8 : 0) | (bits[i + 1] ? 4 : 0) | (bits[i + 2] ? 2 : 0) | (bits[i + 3] ? 1 : 0));
    out += NIBBLE[v];
  }
  return out;
}

/** 16-bit words as PDQ's Hash256::format writes them: w[last] first, 4 hex digits each. */
export function words16ToHex(words) {
  let out = '';
  for (let i = words.length - 1; i >= 0; i--) {
    const w = words[i];
    out += NIBBLE[(w >> 12) & 15] + NIBBLE[(w >> 8) & 15] + NIBBLE[(w >> 4) & 15] + NIBBLE[w & 15];
  }
  return out;
}

/** Bytes to lowercase hex (digests). */
export function bytesToHex(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += NIBBLE[bytes[i] >> 4] + NIBBLE[bytes[i] & 15];
  return out;
}
