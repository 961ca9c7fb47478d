// Perceptual fingerprints of decoded RGBA pixels: PDQ (+ quality, + 8 dihedral variants) and
// imagehash's phash / dhash / average_hash, bit-identical to pdqhash 0.2.8 and
// imagehash 4.3.2 on Pillow 13.0.0 for the same RGBA pixels.
//
// The work is one streaming pass over the rows: each block of RGBA rows is turned into PDQ's
// float32 luma and Pillow's 'L' grey, which feed the PDQ Jarosz filter and the three LANCZOS
// resizers. Nothing the size of the image is allocated besides the caller's pixel buffer.
//
// Entry points (`image` is {width, height, data}: RGBA bytes, not premultiplied, row-major):
//   fingerprintPixels(image)     everything, one thread
//   fingerprintPartFromPixels(image, split) + fingerprintFromParts(first, [otherParts])
//                                everything, split over two workers as worker.js does: the
//                                first does PDQ + imagehash rows [0, split) in one pass, the
//                                other imagehashPartFromGray on rows [split, H)
//   pdqFromPixels(image)         the PDQ half   -> {pdq, pdq_quality, pdq_dihedral, ...}
//                                (both also give pdq_crops: [{crop, pdq, quality}], close
//                                approximations of pdqhash on the central 95/90/80%, pdq.js)
//   imagehashFromPixels(image, {signals})
//                                the imagehash half -> {phash, dhash, ahash, ...}; `signals`
//                                optionally picks a subset of ['phash', 'dhash', 'ahash']
//   imagehashPartFromPixels(image, y0, y1) + imagehashFromParts(parts)
//                                the imagehash half split by row ranges, e.g. over two workers:
//                                worker A runs pdqFromPixels + rows [0, s), worker B rows [s, H)
//                                (B may be sent only its rows of the RGBA bytes)
//   grayFromPixels(image, y0, y1) + imagehashPartFromGray(...) / imagehashFromGray(...)
//                                the same from Pillow 'L' bytes, a quarter of the RGBA size,
//                                for a worker that cannot share the RGBA buffer
// On one core the PDQ half takes about a third of the time and the imagehash half two thirds
// (bench/fingerprint_core_bench.mjs), which is why the imagehash half can be split by rows.
'use strict';

import { grayFromRGBA } from './gray.js';
import { PdqStream, PDQ_MIN_DIM, BLOCK_ROWS } from './pdq.js';
import { LanczosResizer, mergeResizeParts } from './resize.js';
import { phashFromResized, PHASH_SIZE } from './phash.js';
import { dhashFromResized, DHASH_WIDTH, DHASH_HEIGHT } from './dhash.js';
import { ahashFromResized, AHASH_SIZE } from './ahash.js';
import { simdEngine, simdUnavailableReason } from './simd.js';

// imagehash signals: resize target (width, height) and the hash of the resized pixels.
const IMAGEHASH = {
  phash: { size: [PHASH_SIZE, PHASH_SIZE], hash: phashFromResized },
  dhash: { size: [DHASH_WIDTH, DHASH_HEIGHT], hash: dhashFromResized },
  ahash: { size: [AHASH_SIZE, AHASH_SIZE], hash: ahashFromResized },
};
export const IMAGEHASH_SIGNALS = Object.freeze(Object.keys(IMAGEHASH));

function checkSignals(signals) {
  if (!Array.isArray(signals) || signals.length === 0 || signals.some((s) => !(s in IMAGEHASH))) {
    throw new RangeError(`signals must be a non-empty subset of ${IMAGEHASH_SIGNALS.join(', ')}`);
  }
  return [...new Set(signals)];
}

function checkSize(width, height) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`invalid image size ${width}x${height}`);
  }
}

function checkImage(image) {
  if (!image || typeof image !== 'object') throw new TypeError('expected {width, height, data}');
  const { width, height, data } = image;
  checkSize(width, height);
  if (!(data instanceof Uint8ClampedArray || data instanceof Uint8Array)) {
    throw new TypeError('data must be a Uint8ClampedArray or Uint8Array of RGBA bytes');
  }
  if (data.length !== width * height * 4) {
    throw new RangeError(`data has ${data.length} bytes, expected ${width * height * 4} for RGBA ${width}x${height}`);
  }
  return { width, height, data };
}

function pdqWarnings(width, height, quality) {
  const warnings = [];
  if (width < PDQ_MIN_DIM || height < PDQ_MIN_DIM) {
    warnings.push(`PDQ needs at least ${PDQ_MIN_DIM}x${PDQ_MIN_DIM} pixels; this ${width}x${height} image gets the all-zero PDQ hash with quality 0 (as pdqhash gives), which must not be used for matching`);
  } else if (quality < 50) {
    warnings.push(`PDQ quality ${quality} is below 50: python-threatexchange drops such hashes, so platforms may ignore this one`);
  }
  if (width === 64 && height === 64) {
    warnings.push('exactly 64x64: pdqhash.compute uses the pixels unfiltered but compute_dihedral filters them, so pdq_dihedral[0] may differ from pdq (both follow the references)');
  }
  return warnings;
}

// ---------------------------------------------------------------------------------------
// Reading pixels: one 32-bit word per pixel (R in the low byte) is faster than three byte
// reads. On little-endian machines (all browsers in practice) an aligned RGBA buffer is
// viewed as words directly; otherwise each block is packed into words first.
//
// PDQ luma: f32(R*0.299 + G*0.587 + B*0.114), products and sums in float64 exactly as
// pdqhash's numpy line, rounded once by the Float32Array store. Pillow 'L':
// (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, kept as a double for the resizers.
// Alpha is ignored by both. Three specialised loops keep the hot code monomorphic.

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// The three float64 products of the PDQ luma, tabulated: a table entry is the very double
// R*0.299 computes, and the sums keep their order, so the luma is unchanged; three loads
// are about 20% faster than three int-to-double conversions and multiplies.
const LUMA_R = new Float64Array(256);
const LUMA_G = new Float64Array(256);
const LUMA_B = new Float64Array(256);
for (let v = 0; v < 256; v++) {
  LUMA_R[v] = v * 0.299;
  LUMA_G[v] = v * 0.587;
  LUMA_B[v] = v * 0.114;
}

function lumaAndGrayFromWords(words, first, count, luma, gray) {
  for (let x = 0; x < count; x++) {
    const p = words[first + x];
    const r = p & 255;
    const g = (p >>> 8) & 255;
    const b = (p >>> 16) & 255;
    luma[x] = LUMA_R[r] + LUMA_G[g] + LUMA_B[b];
    gray[x] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
  }
}

function lumaFromWords(words, first, count, luma) {
  for (let x = 0; x < count; x++) {
    const p = words[first + x];
    luma[x] = LUMA_R[p & 255] + LUMA_G[(p >>> 8) & 255] + LUMA_B[(p >>> 16) & 255];
  }
}

function grayFromWords(words, first, count, gray) {
  for (let x = 0; x < count; x++) {
    const p = words[first + x];
    gray[x] = ((p & 255) * 19595 + ((p >>> 8) & 255) * 38470 + ((p >>> 16) & 255) * 7471 + 0x8000) >> 16;
  }
}

/** Gives words(firstPixel, count) -> [Uint32Array, offset] for blocks of the RGBA bytes. */
function wordReader(data, maxCount) {
  if (LITTLE_ENDIAN && data.byteOffset % 4 === 0) {
    const all = new Uint32Array(data.buffer, data.byteOffset, data.length >> 2);
    return () => [all, null];
  }
  const buf = new Uint32Array(maxCount);
  return (first, count) => {
    for (let x = 0, i = first * 4; x < count; x++, i += 4) {
      buf[x] = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) >>> 0;
    }
    return [buf, 0];
  };
}

// [[name, LanczosResizer], ...] for the requested imagehash signals.
function makeResizers(width, height, y0, y1, signals) {
  return signals.map((name) => {
    const [w, h] = IMAGEHASH[name].size;
    return [name, new LanczosResizer(width, height, w, h, { y0, y1 })];
  });
}

// Rows [y0, y1) of an image whose pixel rows start at row `dataRow0` of `data`.
function streamRows({ width, data }, dataRow0, y0, y1, pdq, rs) {
  const read = wordReader(data, width * BLOCK_ROWS);
  const luma = pdq ? new Float32Array(width * BLOCK_ROWS) : null;
  const gray = rs ? new Float64Array(width * BLOCK_ROWS) : null;
  for (let y = y0; y < y1; y += BLOCK_ROWS) {
    const n = Math.min(BLOCK_ROWS, y1 - y);
    const count = n * width;
    const first = (y - dataRow0) * width;
    const [words, at] = read(first, count);
    const start = at === null ? first : at;
    if (pdq && rs) lumaAndGrayFromWords(words, start, count, luma, gray);
    else if (pdq) lumaFromWords(words, start, count, luma);
    else grayFromWords(words, start, count, gray);
    if (pdq) pdq.pushRows(luma, n);
    if (rs) for (const [, r] of rs) r.pushRows(gray, n);
  }
}

function finishPdq(stream, width, height) {
  const r = stream.finish();
  return {
    pdq: r.pdq,
    pdq_quality: r.quality,
    pdq_dihedral: r.dihedral,
    pdq_crops: r.crops,
    warnings: pdqWarnings(width, height, r.quality),
  };
}

/**
 * All perceptual fingerprints of one decoded image.
 * @param {{width:number, height:number, data:Uint8ClampedArray|Uint8Array}} image RGBA,
 *   not premultiplied, row-major, exactly width*height*4 bytes
 * @returns {{pdq:string, pdq_quality:number, pdq_dihedral:string[], phash:string,
 *   dhash:string, ahash:string, width:number, height:number, warnings:string[]}}
 */
export function fingerprintPixels(image, options = {}) {
  const engine = options.engine ?? 'auto';
  if (!['auto', 'wasm', 'js'].includes(engine)) throw new RangeError(`engine must be 'auto', 'wasm' or 'js', not ${engine}`);
  if (engine !== 'js') {
    const simd = simdEngine();
    if (simd) return fingerprintPixelsWith(simd, image);
    if (engine === 'wasm') throw new Error(`WebAssembly SIMD engine unavailable: ${simdUnavailableReason()}`);
  }
  const first = fingerprintPartFromPixels(image, image?.height);
  return fingerprintFromParts(first, []);
}

/** Which engine fingerprintPixels(image) uses here by default: 'wasm' or 'js'. */
export function defaultEngine() {
  return simdEngine() ? 'wasm' : 'js';
}

// fingerprintPixels on the WebAssembly engine: one pass, one thread, the same result.
function fingerprintPixelsWith(simd, image) {
  const img = checkImage(image);
  const { width, height } = img;
  const sizes = {};
  for (const name of IMAGEHASH_SIGNALS) sizes[name] = IMAGEHASH[name].size;
  const { pdq, resized } = simd.run(img, sizes);
  return {
    pdq: pdq.pdq,
    pdq_quality: pdq.quality,
    pdq_dihedral: pdq.dihedral,
    pdq_crops: pdq.crops,
    phash: IMAGEHASH.phash.hash(resized.phash),
    dhash: IMAGEHASH.dhash.hash(resized.dhash),
    ahash: IMAGEHASH.ahash.hash(resized.ahash),
    width,
    height,
    warnings: pdqWarnings(width, height, pdq.quality),
  };
}

/**
 * What the first of two workers computes: PDQ over all rows, and the imagehash work for rows
 * [0, split) only, in the same pass over those rows. Another worker computes rows
 * [split, height) with imagehashPartFromGray (grayFromPixels(image, split) is its input), and
 * fingerprintFromParts(first, [otherPart]) gives exactly fingerprintPixels(image).
 * @returns {{pdq: object, part: object|null}} plain data
 */
export function fingerprintPartFromPixels(image, split) {
  const img = checkImage(image);
  const { width, height } = img;
  if (!(Number.isInteger(split) && split >= 0 && split <= height)) throw new RangeError(`bad split row ${split} of ${height}`);
  const pdq = new PdqStream(width, height);
  let part = null;
  if (split > 0) {
    const rs = makeResizers(width, height, 0, split, IMAGEHASH_SIGNALS);
    streamRows(img, 0, 0, split, pdq, rs);
    const parts = {};
    for (const [name, r] of rs) parts[name] = r.partial();
    part = { width, height, y0: 0, y1: split, signals: IMAGEHASH_SIGNALS, parts };
  }
  if (split < height) streamRows(img, 0, split, height, pdq, null);
  return { pdq: { ...finishPdq(pdq, width, height), width, height }, part };
}

/** fingerprintPixels' result from fingerprintPartFromPixels' output and the other rows' parts. */
export function fingerprintFromParts(first, otherParts) {
  const p = first.pdq;
  const ih = imagehashFromParts([first.part, ...otherParts].filter(Boolean));
  return {
    pdq: p.pdq,
    pdq_quality: p.pdq_quality,
    pdq_dihedral: p.pdq_dihedral,
    pdq_crops: p.pdq_crops,
    phash: ih.phash,
    dhash: ih.dhash,
    ahash: ih.ahash,
    width: p.width,
    height: p.height,
    warnings: p.warnings,
  };
}

/** The PDQ half of fingerprintPixels: {pdq, pdq_quality, pdq_dihedral, width, height, warnings}. */
export function pdqFromPixels(image) {
  const img = checkImage(image);
  const pdq = new PdqStream(img.width, img.height);
  streamRows(img, 0, 0, img.height, pdq, null);
  return { ...finishPdq(pdq, img.width, img.height), width: img.width, height: img.height };
}

/**
 * The imagehash half of fingerprintPixels: {phash, dhash, ahash, width, height, warnings}.
 * @param {object} [options]
 * @param {string[]} [options.signals] a subset of ['phash', 'dhash', 'ahash'] (default all)
 */
export function imagehashFromPixels(image, options = {}) {
  return imagehashFromParts([imagehashPartFromPixels(image, 0, image?.height, options)]);
}

/**
 * The imagehash work for rows [y0, y1) only. `image.data` holds either the whole image or
 * just those rows ((y1-y0)*width*4 bytes), so a worker can be sent only its slice.
 * @returns {{width, height, y0, y1, signals, parts}} plain data (postMessage-able; the typed
 *   arrays inside can be transferred) for imagehashFromParts
 */
export function imagehashPartFromPixels(image, y0 = 0, y1 = image?.height, options = {}) {
  if (!image || typeof image !== 'object') throw new TypeError('expected {width, height, data}');
  const { width, height, data } = image;
  checkSize(width, height);
  const signals = checkSignals(options.signals ?? IMAGEHASH_SIGNALS);
  if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y0 <= y1 && y1 <= height)) {
    throw new RangeError(`bad row range ${y0}..${y1} of ${height}`);
  }
  if (!(data instanceof Uint8ClampedArray || data instanceof Uint8Array)) {
    throw new TypeError('data must be a Uint8ClampedArray or Uint8Array of RGBA bytes');
  }
  let dataRow0;
  if (data.length === width * height * 4) dataRow0 = 0;
  else if (data.length === width * (y1 - y0) * 4) dataRow0 = y0;
  else throw new RangeError(`data has ${data.length} bytes: neither the whole image nor rows ${y0}..${y1}`);
  const rs = makeResizers(width, height, y0, y1, signals);
  streamRows({ width, data }, dataRow0, y0, y1, null, rs);
  const parts = {};
  for (const [name, r] of rs) parts[name] = r.partial();
  return { width, height, y0, y1, signals, parts };
}

/** Combine imagehashPartFromPixels results whose row ranges tile the image. */
export function imagehashFromParts(parts) {
  if (!Array.isArray(parts) || parts.length === 0) throw new TypeError('expected a non-empty array of parts');
  const { width, height, signals } = parts[0];
  for (const p of parts) {
    if (p.width !== width || p.height !== height) throw new RangeError('parts come from different image sizes');
    if (p.signals.join() !== signals.join()) throw new RangeError('parts computed different signals');
  }
  const out = {};
  for (const name of signals) {
    const [w, h] = IMAGEHASH[name].size;
    out[name] = IMAGEHASH[name].hash(mergeResizeParts(parts.map((p) => p.parts[name]), width, height, w, h));
  }
  return { ...out, width, height, warnings: [] };
}

/**
 * Pillow 'L' values of the image, or of rows [y0, y1) only: a quarter of the RGBA bytes, for
 * imagehashFromGray / imagehashPartFromGray in another worker (transfer gray.buffer).
 */
export function grayFromPixels(image, y0 = 0, y1 = image?.height) {
  const { width, height, data } = checkImage(image);
  if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y0 <= y1 && y1 <= height)) {
    throw new RangeError(`bad row range ${y0}..${y1} of ${height}`);
  }
  if (!(LITTLE_ENDIAN && data.byteOffset % 4 === 0)) {
    return grayFromRGBA(data.subarray(y0 * width * 4, y1 * width * 4), width, y1 - y0);
  }
  // One 32-bit read per pixel: about three times faster than byte reads (grayRowFromRGBA).
  const words = new Uint32Array(data.buffer, data.byteOffset, data.length >> 2);
  const out = new Uint8Array(width * (y1 - y0));
  const first = y0 * width;
  for (let x = 0, n = out.length; x < n; x++) {
    const p = words[first + x];
    out[x] = ((p & 255) * 19595 + ((p >>> 8) & 255) * 38470 + ((p >>> 16) & 255) * 7471 + 0x8000) >> 16;
  }
  return out;
}

/**
 * imagehashPartFromPixels for Pillow 'L' values: `gray` holds the whole image or rows [y0, y1).
 * @param {{width:number, height:number, gray:Uint8Array}} image
 */
export function imagehashPartFromGray({ width, height, gray }, y0 = 0, y1 = height, options = {}) {
  checkSize(width, height);
  const signals = checkSignals(options.signals ?? IMAGEHASH_SIGNALS);
  if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y0 <= y1 && y1 <= height)) {
    throw new RangeError(`bad row range ${y0}..${y1} of ${height}`);
  }
  if (!(gray instanceof Uint8Array)) throw new TypeError('gray must be a Uint8Array');
  let row0;
  if (gray.length === width * height) row0 = 0;
  else if (gray.length === width * (y1 - y0)) row0 = y0;
  else throw new RangeError(`gray has ${gray.length} values: neither the whole image nor rows ${y0}..${y1}`);
  const rs = makeResizers(width, height, y0, y1, signals);
  const block = new Float64Array(width * BLOCK_ROWS);
  for (let y = y0; y < y1; y += BLOCK_ROWS) {
    const n = Math.min(BLOCK_ROWS, y1 - y);
    const first = (y - row0) * width;
    for (let i = 0; i < n * width; i++) block[i] = gray[first + i];
    for (const [, r] of rs) r.pushRows(block, n);
  }
  const parts = {};
  for (const [name, r] of rs) parts[name] = r.partial();
  return { width, height, y0, y1, signals, parts };
}

/** imagehash half from Pillow 'L' values: {width, height, gray: Uint8Array(width*height)}. */
export function imagehashFromGray(image, options = {}) {
  if (!image || typeof image !== 'object') throw new TypeError('expected {width, height, gray}');
  if (!(image.gray instanceof Uint8Array) || image.gray.length !== image.width * image.height) {
    throw new TypeError(`gray must be a Uint8Array of ${image.width * image.height} values`);
  }
  return imagehashFromParts([imagehashPartFromGray(image, 0, image.height, options)]);
}
