// What MD5 and SHA-256 share: both eat 64-byte blocks, pad with 0x80, zeros and the length in
// bits as 64 bits, and output their int32 state words. They differ only in byte order
// (MD5 little-endian, SHA-256 big-endian) and in the block function, which subclasses supply
// as `_block(bytes, offset)` working on `this._h` (the state, an Int32Array).
'use strict';

import { bytesToHex } from './hex.js';

function toBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('update() takes a Uint8Array, another ArrayBuffer view, or an ArrayBuffer');
}

/** Writes the int32 `value` as 4 bytes at `out[at]`, in the hash's byte order. */
function putWord(out, at, value, littleEndian) {
  for (let j = 0; j < 4; j++) out[at + j] = (value >>> (littleEndian ? 8 * j : 24 - 8 * j)) & 255;
}

export class BlockHasher {
  constructor(name, initialState, littleEndian) {
    this._name = name;
    this._h = new Int32Array(initialState);
    this._littleEndian = littleEndian;
    this._buf = new Uint8Array(64);
    this._bufLen = 0;
    this._bytes = 0; // total length; exact up to 2^53 bytes
    this._digest = null;
  }

  /** Feed the next chunk of bytes. Returns this, so calls can be chained. */
  update(chunk) {
    if (this._digest) throw new Error(`${this._name}: update() after digest()`);
    const data = toBytes(chunk);
    const n = data.length;
    this._bytes += n;
    let i = 0;
    if (this._bufLen > 0) {
      const take = Math.min(64 - this._bufLen, n);
      this._buf.set(data.subarray(0, take), this._bufLen);
      this._bufLen += take;
      i = take;
      if (this._bufLen < 64) return this;
      this._block(this._buf, 0);
      this._bufLen = 0;
    }
    for (; i + 64 <= n; i += 64) this._block(data, i);
    if (i < n) {
      this._buf.set(data.subarray(i), 0);
      this._bufLen = n - i;
    }
    return this;
  }

  /** The digest bytes; ends the hash (later update() calls throw). */
  digest() {
    if (!this._digest) {
      const total = this._bytes;
      const pad = new Uint8Array(((this._bufLen < 56 ? 56 : 120) - this._bufLen) + 8);
      pad[0] = 0x80;
      // The length in bits as 64 bits, split in two words so no float loses a bit.
      const lo = ((total % 0x20000000) * 8) >>> 0;
      const hi = Math.floor(total / 0x20000000) >>> 0;
      const at = pad.length - 8;
      if (this._littleEndian) {
        putWord(pad, at, lo, true);
        putWord(pad, at + 4, hi, true);
      } else {
        putWord(pad, at, hi, false);
        putWord(pad, at + 4, lo, false);
      }
      this.update(pad);
      const out = new Uint8Array(4 * this._h.length);
      for (let j = 0; j < this._h.length; j++) putWord(out, 4 * j, this._h[j], this._littleEndian);
      this._digest = out;
    }
    return this._digest.slice();
  }

  /** Lowercase hex digest. */
  hexdigest() {
    return bytesToHex(this.digest());
  }
}
