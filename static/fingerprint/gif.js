// The first frame of a GIF, decoded in JavaScript to the pixels Pillow 13.0 gives for
// Image.open(f).convert('RGB') (Pillow and pdqhash read frame 0 of an animation).
//
// Why our own decoder: a canvas premultiplies alpha, so the transparent colour would come back
// black, while Pillow keeps the palette colour of the transparent index. Pillow's frame 0 is
// the logical screen filled with the transparency index when the frame declares one (else
// index 0), with the first image's indices pasted at its position, coloured through the
// local colour table if present, else the global one; without any table the index is a grey.
'use strict';

export class GifError extends Error {
  constructor(message) {
    super(message);
    this.name = 'GifError';
  }
}

export function isGif(bytes) {
  return bytes.length >= 6 && bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46 && bytes[3] === 0x38;
}

/** Logical screen size without decoding (for the size check before any allocation). */
export function gifSize(bytes) {
  if (!isGif(bytes) || bytes.length < 13) throw new GifError('not a GIF file');
  return { width: bytes[6] | (bytes[7] << 8), height: bytes[8] | (bytes[9] << 8) };
}

function readSubBlocks(bytes, pos) {
  const parts = [];
  let total = 0;
  for (;;) {
    if (pos >= bytes.length) throw new GifError('the GIF is cut short (the file looks truncated)');
    const n = bytes[pos++];
    if (n === 0) break;
    if (pos + n > bytes.length) throw new GifError('the GIF is cut short (the file looks truncated)');
    parts.push(bytes.subarray(pos, pos + n));
    total += n;
    pos += n;
  }
  const data = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    data.set(p, o);
    o += p.length;
  }
  return { data, pos };
}

/** GIF LZW: `count` indices from `data` with the given minimum code size. */
export function lzwDecode(data, minCodeSize, count) {
  if (minCodeSize < 1 || minCodeSize > 11) throw new GifError('invalid GIF LZW code size');
  const out = new Uint8Array(count);
  const clear = 1 << minCodeSize;
  const eoi = clear + 1;
  const prefix = new Int16Array(4096);
  const suffix = new Uint8Array(4096);
  const first = new Uint8Array(4096);
  const lengths = new Uint16Array(4096);
  for (let i = 0; i < clear; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    first[i] = i;
    lengths[i] = 1;
  }
  let codeSize = minCodeSize + 1;
  let next = eoi + 1;
  let prev = -1;
  let bitBuf = 0;
  let bitCount = 0;
  let pos = 0;
  let o = 0;
  while (o < count) {
    while (bitCount < codeSize) {
      if (pos >= data.length) return { indices: out, written: o };
      bitBuf |= data[pos++] << bitCount;
      bitCount += 8;
    }
    const code = bitBuf & ((1 << codeSize) - 1);
    bitBuf >>>= codeSize;
    bitCount -= codeSize;
    if (code === clear) {
      codeSize = minCodeSize + 1;
      next = eoi + 1;
      prev = -1;
      continue;
    }
    if (code === eoi) break;
    let cur = code;
    if (prev === -1) {
      if (code >= clear) throw new GifError('the GIF image data is corrupt');
      out[o++] = code;
      prev = code;
      continue;
    }
    let tail;
    if (code < next) {
      tail = first[code];
    } else if (code === next) {
      tail = first[prev];
      cur = prev; // the string is prev + first(prev)
    } else {
      throw new GifError('the GIF image data is corrupt');
    }
    // Write the string for `cur` backwards, then the extra tail byte when code === next.
    const len = lengths[cur];
    const extra = code === next ? 1 : 0;
    const end = Math.min(o + len, count);
    let c = cur;
    for (let k = len - 1; k >= 0; k--) {
      if (o + k < count) out[o + k] = suffix[c];
      c = prefix[c];
    }
    o = end;
    if (extra && o < count) out[o++] = tail;
    if (next < 4096) {
      prefix[next] = prev;
      suffix[next] = tail;
      first[next] = first[prev];
      lengths[next] = lengths[prev] + 1;
      next++;
      if (next === 1 << codeSize && codeSize < 12) codeSize++;
    }
    prev = code;
  }
  return { indices: out, written: o };
}

/**
 * Decode frame 0.
 * @returns {{width:number, height:number, data:Uint8ClampedArray, hasAlpha:boolean,
 *   animated:boolean, warnings:string[]}}
 */
export function decodeGif(bytes, { maxPixels = Infinity } = {}) {
  const { width, height } = gifSize(bytes);
  if (width < 1 || height < 1) throw new GifError('the GIF has no pixels');
  if (width * height > maxPixels) {
    const err = new GifError(`the image is ${width}x${height} pixels, more than this device can safely decode`);
    err.code = 'too-large';
    throw err;
  }
  const flags = bytes[10];
  let pos = 13;
  let globalTable = null;
  if (flags & 0x80) {
    const n = 3 * (1 << ((flags & 7) + 1));
    globalTable = bytes.subarray(pos, pos + n);
    pos += n;
  }
  let transparency = null;
  const warnings = [];
  for (;;) {
    if (pos >= bytes.length) throw new GifError('the GIF has no image in it');
    const block = bytes[pos++];
    if (block === 0x21) {
      const label = bytes[pos++];
      if (label === 0xf9 && bytes[pos] >= 4) {
        if (bytes[pos + 1] & 1) transparency = bytes[pos + 4];
      }
      pos = readSubBlocks(bytes, pos).pos;
    } else if (block === 0x2c) {
      const left = bytes[pos] | (bytes[pos + 1] << 8);
      const top = bytes[pos + 2] | (bytes[pos + 3] << 8);
      const w = bytes[pos + 4] | (bytes[pos + 5] << 8);
      const h = bytes[pos + 6] | (bytes[pos + 7] << 8);
      const f = bytes[pos + 8];
      pos += 9;
      let table = globalTable;
      if (f & 0x80) {
        const n = 3 * (1 << ((f & 7) + 1));
        table = bytes.subarray(pos, pos + n);
        pos += n;
      }
      const interlaced = (f & 0x40) !== 0;
      const minCodeSize = bytes[pos++];
      const sub = readSubBlocks(bytes, pos);
      const { indices, written } = lzwDecode(sub.data, minCodeSize, w * h);
      if (written < w * h) warnings.push('the first GIF frame is incomplete; the missing pixels were taken as colour 0, as Pillow does');
      const animated = hasAnotherImage(bytes, sub.pos);
      if (animated) warnings.push('animated GIF: the first frame (the one Pillow and pdqhash read) was fingerprinted');
      if (left + w > width || top + h > height) {
        throw new GifError('the first GIF frame lies outside the picture; this file cannot be fingerprinted exactly');
      }
      const data = compose(width, height, left, top, w, h, indices, interlaced, table, transparency);
      return { width, height, data, hasAlpha: transparency !== null, animated, warnings };
    } else if (block === 0x3b) {
      throw new GifError('the GIF has no image in it');
    } else {
      throw new GifError('the GIF is corrupt (unknown block)');
    }
  }
}

function hasAnotherImage(bytes, pos) {
  while (pos < bytes.length) {
    const block = bytes[pos++];
    if (block === 0x2c) return true;
    if (block !== 0x21) return false;
    pos++;
    try {
      pos = readSubBlocks(bytes, pos).pos;
    } catch {
      return false;
    }
  }
  return false;
}

function compose(width, height, left, top, w, h, indices, interlaced, table, transparency) {
  const lut = new Uint8Array(256 * 3);
  // Pillow's palette starts as a grey ramp; the GIF's table overwrites its first entries.
  for (let i = 0; i < 256; i++) lut[i * 3] = lut[i * 3 + 1] = lut[i * 3 + 2] = i;
  if (table) lut.set(table.subarray(0, Math.min(table.length, 768)));
  const canvas = new Uint8Array(width * height).fill(transparency ?? 0);
  // Interlaced rows arrive in the order of passes 0/8, 4/8, 2/4, 1/2.
  const rowOrder = [];
  if (interlaced) {
    for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]]) for (let r = start; r < h; r += step) rowOrder.push(r);
  }
  for (let i = 0; i < h; i++) {
    const r = interlaced ? rowOrder[i] : i;
    canvas.set(indices.subarray(i * w, (i + 1) * w), (top + r) * width + left);
  }
  const out = new Uint8ClampedArray(width * height * 4);
  for (let p = 0, o = 0; p < canvas.length; p++, o += 4) {
    const v = canvas[p];
    out[o] = lut[v * 3];
    out[o + 1] = lut[v * 3 + 1];
    out[o + 2] = lut[v * 3 + 2];
    out[o + 3] = v === transparency ? 0 : 255;
  }
  return out;
}
