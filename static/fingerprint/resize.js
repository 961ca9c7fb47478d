// Pillow 13.0's LANCZOS resize of 8-bit greyscale ('L') images, bit for bit.
//
// imagehash shrinks the image with Image.resize(size, LANCZOS) before hashing, so phash, dhash
// and average_hash agree with the reference only if every output byte of that resize agrees.
// Pillow (src/libImaging/Resample.c) does it in two separable passes:
//   * coefficients are computed in float64 with the lanczos-3 kernel, normalised by their
//     sequential sum, then turned into 22-bit fixed point (rounded away from zero);
//   * each pass sums uint8 * int32 in integer arithmetic starting from 2^21 (rounding), shifts
//     right by 22 and clamps to 0..255, i.e. the intermediate image is 8-bit;
//   * an axis whose size does not change gets no pass at all;
//   * Pillow 13.x runs the vertical pass first iff (H-h) > 0 and (H-h) > 2*(W-w), otherwise the
//     horizontal pass first. Because the intermediate image is clamped to 8 bits the order
//     changes results, so it must be the pinned version's rule (pyproject pins Pillow 13.0.0).
//
// The sums are exact integers well inside +/-2^31 (|coefficients| sum to about 2^22, pixels
// are <= 255), so we accumulate them in float64 numbers: exact, associative, and faster in JS
// than int32 arithmetic with overflow checks. Integer addition does not care about order, so
// the vertical pass may be accumulated row by row as rows stream in.
'use strict';

const PRECISION_BITS = 22; // 32 - 8 - 2, as in Pillow
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;
const LANCZOS_SUPPORT = 3.0;

function sinc(x) {
  if (x === 0.0) return 1.0;
  x = x * Math.PI;
  return Math.sin(x) / x;
}

function lanczos(x) {
  // truncated sinc, exactly Pillow's lanczos_filter
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for LANCZOS along one axis (no box).
 * @returns {{inSize:number,outSize:number,ksize:number,bounds:Int32Array,kk:Float64Array}}
 *   bounds[2*o] = first input index, bounds[2*o+1] = number of taps; kk[o*ksize + t] is the
 *   fixed-point coefficient (an integer, stored as a double for fast exact arithmetic).
 */
export function lanczosCoeffs(inSize, outSize) {
  // (double)(in1 - in0) / outSize with in0 = 0.0f, in1 = (float)inSize: exact for sizes < 2^24
  const scale = inSize / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = LANCZOS_SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale; // in0 + (xx + 0.5) * scale with in0 = 0
    let ww = 0.0;
    const ss = 1.0 / filterscale; // Pillow multiplies by the reciprocal: keep it that way
    let xmin = Math.trunc(center - support + 0.5); // (int) cast truncates toward zero
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (let x = 0; x < xmax; x++) {
      const v = lanczos((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v; // sequential sum, same order as Pillow
    }
    for (let x = 0; x < xmax; x++) {
      let v = w[x];
      if (ww !== 0.0) v /= ww;
      // normalize_coeffs_8bpc: (int)(+/-0.5 + k * 2^22), i.e. round half away from zero
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { inSize, outSize, ksize, bounds, kk };
}

// clip8 of Pillow: (sum >> 22) clamped to 0..255. Math.floor of a division by 2^22 is the
// arithmetic shift for any double, so no int32 conversion is involved.
function clip8(sum) {
  const v = Math.floor(sum / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Pillow 13.x pass order: true when the vertical pass runs first. */
export function pillow13VerticalFirst(inW, inH, outW, outH) {
  const dh = inH - outH;
  const dw = inW - outW;
  return dh > 0 && dh > 2 * dw;
}

// One horizontal pass over one row: src[srcOff .. srcOff+inSize) -> dst[dstOff .. +outSize).
// This loop is where imagehash spends its time (6 multiply-adds per input pixel per target
// size). Four partial sums break the add-latency chain (integer sums are exact in any order)
// and plain induction pointers let the JIT drop most bounds checks.
function horizontalRow(src, srcOff, dst, dstOff, c) {
  const { outSize, ksize, bounds, kk } = c;
  for (let xx = 0; xx < outSize; xx++) {
    let p = srcOff + bounds[2 * xx];
    let q = xx * ksize;
    const qEnd = q + bounds[2 * xx + 1];
    const qEnd4 = qEnd - 3;
    let s0 = HALF;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (; q < qEnd4; q += 4, p += 4) {
      s0 += src[p] * kk[q];
      s1 += src[p + 1] * kk[q + 1];
      s2 += src[p + 2] * kk[q + 2];
      s3 += src[p + 3] * kk[q + 3];
    }
    for (; q < qEnd; q++, p++) s0 += src[p] * kk[q];
    dst[dstOff + xx] = clip8(s0 + s1 + (s2 + s3));
  }
}

// horizontalRow on four rows at once (row r at srcOff + r*srcStride, written to
// dstOff + r*dstStride). Each coefficient is loaded once for four rows, which roughly halves
// the loads per multiply-add; every row still gets exactly the integer sum horizontalRow
// computes (integer sums of exact products are the same in any order).
function horizontalRow4(src, srcOff, srcStride, dst, dstOff, dstStride, c) {
  const { outSize, ksize, bounds, kk } = c;
  const a = srcOff;
  const b = srcOff + srcStride;
  const d = srcOff + 2 * srcStride;
  const e = srcOff + 3 * srcStride;
  for (let xx = 0; xx < outSize; xx++) {
    const x0 = bounds[2 * xx];
    let q = xx * ksize;
    const qEnd = q + bounds[2 * xx + 1];
    let s0 = HALF;
    let s1 = HALF;
    let s2 = HALF;
    let s3 = HALF;
    for (let p = x0; q < qEnd; q++, p++) {
      const k = kk[q];
      s0 += src[a + p] * k;
      s1 += src[b + p] * k;
      s2 += src[d + p] * k;
      s3 += src[e + p] * k;
    }
    dst[dstOff + xx] = clip8(s0);
    dst[dstOff + dstStride + xx] = clip8(s1);
    dst[dstOff + 2 * dstStride + xx] = clip8(s2);
    dst[dstOff + 3 * dstStride + xx] = clip8(s3);
  }
}

// The same on eight rows (rows at srcOff + r*S, written at dstOff + r*D): one coefficient
// load per eight multiply-adds, about 10% faster again than four rows on 12 MP images
// (eight sums and the coefficient still fit in the x64 and arm64 float registers).
function horizontalRow8(src, srcOff, S, dst, dstOff, D, c) {
  const { outSize, ksize, bounds, kk } = c;
  for (let xx = 0; xx < outSize; xx++) {
    let q = xx * ksize;
    const qEnd = q + bounds[2 * xx + 1];
    let s0 = HALF;
    let s1 = HALF;
    let s2 = HALF;
    let s3 = HALF;
    let s4 = HALF;
    let s5 = HALF;
    let s6 = HALF;
    let s7 = HALF;
    for (let p = srcOff + bounds[2 * xx]; q < qEnd; q++, p++) {
      const k = kk[q];
      s0 += src[p] * k;
      s1 += src[p + S] * k;
      s2 += src[p + 2 * S] * k;
      s3 += src[p + 3 * S] * k;
      s4 += src[p + 4 * S] * k;
      s5 += src[p + 5 * S] * k;
      s6 += src[p + 6 * S] * k;
      s7 += src[p + 7 * S] * k;
    }
    dst[dstOff + xx] = clip8(s0);
    dst[dstOff + D + xx] = clip8(s1);
    dst[dstOff + 2 * D + xx] = clip8(s2);
    dst[dstOff + 3 * D + xx] = clip8(s3);
    dst[dstOff + 4 * D + xx] = clip8(s4);
    dst[dstOff + 5 * D + xx] = clip8(s5);
    dst[dstOff + 6 * D + xx] = clip8(s6);
    dst[dstOff + 7 * D + xx] = clip8(s7);
  }
}

/**
 * The vertical-first pass as rows stream in: calls tap(yy, k) for every output row yy whose
 * window holds input row y, with its coefficient k (zero ones skipped: adding 0 * pixel
 * changes nothing). Windows move forward monotonically, so output rows before `open` are
 * closed for good; returns the first one still open, to pass in for the next row. Shared by
 * the JavaScript resizer and the WebAssembly engine (simd.js).
 * @param {{ksize:number, bounds:Int32Array, kk:Float64Array}} vc lanczosCoeffs(inH, outH)
 */
export function verticalTaps(vc, open, y, tap) {
  const { ksize, bounds, kk } = vc;
  const outH = bounds.length >> 1;
  while (open < outH && bounds[2 * open] + bounds[2 * open + 1] <= y) open++;
  for (let yy = open; yy < outH; yy++) {
    const ymin = bounds[2 * yy];
    if (ymin > y) break;
    const t = y - ymin;
    if (t >= bounds[2 * yy + 1]) continue;
    const k = kk[yy * ksize + t];
    if (k !== 0) tap(yy, k);
  }
  return open;
}

/**
 * Streaming LANCZOS resize of an 8-bit greyscale image: feed the rows top to bottom with
 * pushRows(), then call result(). Memory is O(outH * inW) for vertical-first and
 * O(inH * outW) for horizontal-first, never a copy of the whole input.
 *
 * A resizer can also take only the rows [y0, y1) of the image: partial() then returns its
 * share (a transferable typed array) and mergeResizeParts() combines the shares of all row
 * ranges into the exact result. Horizontal-first shares are the horizontally resampled rows;
 * vertical-first shares are exact integer partial sums, which add up in any order.
 */
export class LanczosResizer {
  /**
   * @param {object} [options]
   * @param {number} [options.y0=0] first input row this resizer receives
   * @param {number} [options.y1=inH] end (exclusive) of the rows it receives
   * @param {boolean} [options.verticalFirst] override the Pillow 13 pass order (tests only:
   *   they use it to show the order matters on the vectors)
   */
  constructor(inW, inH, outW, outH, options = {}) {
    if (!(inW > 0 && inH > 0 && outW > 0 && outH > 0)) throw new RangeError('empty image');
    const y0 = options.y0 ?? 0;
    const y1 = options.y1 ?? inH;
    if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y0 <= y1 && y1 <= inH)) {
      throw new RangeError(`bad row range ${y0}..${y1} of ${inH}`);
    }
    this.inW = inW;
    this.inH = inH;
    this.outW = outW;
    this.outH = outH;
    this.y0 = y0;
    this.y1 = y1;
    this.needH = inW !== outW;
    this.needV = inH !== outH;
    const order = options.verticalFirst ?? pillow13VerticalFirst(inW, inH, outW, outH);
    this.verticalFirst = this.needV && (!this.needH || order);
    this.y = y0;
    this.hc = this.needH ? lanczosCoeffs(inW, outW) : null;
    this.vc = this.needV ? lanczosCoeffs(inH, outH) : null;
    if (this.verticalFirst) {
      // acc[yy*inW + x]: integer sums of the vertical pass (without the rounding 2^21),
      // filled as rows arrive.
      this.acc = new Float64Array(outH * inW);
      this.firstOpen = 0; // first output row whose window can still receive input rows
    } else {
      // Rows y0..y1 after the horizontal pass (or copied when the width does not change).
      this.tmp = new Uint8Array((y1 - y0) * outW);
    }
  }

  /**
   * Feed n consecutive rows; row r is block[offset + r*inW .. + inW). Any numeric array
   * works; a Float64Array of the grey values is the fastest (no int-to-double conversion in
   * the inner loop).
   */
  pushRows(block, n = 1, offset = 0) {
    const W = this.inW;
    if (this.y + n > this.y1) throw new RangeError('too many rows');
    if (this.verticalFirst) {
      for (let r = 0; r < n; r++) this._accumulateRow(block, offset + r * W, this.y++);
    } else if (this.needH) {
      let r = 0;
      for (; r + 7 < n; r += 8, this.y += 8) {
        horizontalRow8(block, offset + r * W, W, this.tmp, (this.y - this.y0) * this.outW, this.outW, this.hc);
      }
      for (; r + 3 < n; r += 4, this.y += 4) {
        horizontalRow4(block, offset + r * W, W, this.tmp, (this.y - this.y0) * this.outW, this.outW, this.hc);
      }
      for (; r < n; r++) {
        horizontalRow(block, offset + r * W, this.tmp, (this.y++ - this.y0) * this.outW, this.hc);
      }
    } else {
      for (let r = 0; r < n; r++) {
        const o = (this.y++ - this.y0) * W;
        for (let x = 0; x < W; x++) this.tmp[o + x] = block[offset + r * W + x];
      }
    }
  }

  _accumulateRow(src, off, y) {
    const W = this.inW;
    const acc = this.acc;
    this.firstOpen = verticalTaps(this.vc, this.firstOpen, y, (yy, k) => {
      const base = yy * W;
      for (let x = 0; x < W; x++) acc[base + x] += src[off + x] * k;
    });
  }

  /**
   * This resizer's share, for mergeResizeParts: {y0, y1, rows} (horizontal-first: Uint8Array
   * of (y1-y0)*outW resampled rows) or {y0, y1, sums} (vertical-first: Float64Array of
   * outH*inW integer partial sums).
   */
  partial() {
    if (this.y !== this.y1) throw new RangeError(`expected rows up to ${this.y1}, got ${this.y}`);
    return this.verticalFirst ? { y0: this.y0, y1: this.y1, sums: this.acc } : { y0: this.y0, y1: this.y1, rows: this.tmp };
  }

  /** @returns {Uint8Array} outW*outH grey values, row-major (needs all rows 0..inH) */
  result() {
    return mergeResizeParts([this.partial()], this.inW, this.inH, this.outW, this.outH, this);
  }
}

/**
 * Combine the partial() shares of resizers that together received every row exactly once.
 * @returns {Uint8Array} the resized image, outW*outH
 */
export function mergeResizeParts(parts, inW, inH, outW, outH, template = null) {
  const r = template ?? new LanczosResizer(inW, inH, outW, outH, { y0: 0, y1: 0 });
  const covered = parts.map((p) => [p.y0, p.y1]).sort((a, b) => a[0] - b[0]);
  let next = 0;
  for (const [a, b] of covered) {
    if (a !== next) throw new RangeError(`row shares do not tile 0..${inH} (gap or overlap at ${next})`);
    next = b;
  }
  if (next !== inH) throw new RangeError(`row shares end at ${next}, expected ${inH}`);
  const out = new Uint8Array(outW * outH);
  if (r.verticalFirst) {
    const mid = new Uint8Array(outH * inW);
    for (let i = 0; i < mid.length; i++) {
      let s = HALF;
      for (const p of parts) s += p.sums[i]; // exact integers: order does not matter
      mid[i] = clip8(s);
    }
    if (!r.needH) return mid;
    for (let yy = 0; yy < outH; yy++) horizontalRow(mid, yy * inW, out, yy * outW, r.hc);
    return out;
  }
  let tmp;
  if (parts.length === 1) {
    tmp = parts[0].rows;
  } else {
    tmp = new Uint8Array(inH * outW);
    for (const p of parts) tmp.set(p.rows, p.y0 * outW);
  }
  if (!r.needV) return tmp;
  const { ksize, bounds, kk } = r.vc;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[2 * yy];
    const n = bounds[2 * yy + 1];
    const kb = yy * ksize;
    for (let xx = 0; xx < outW; xx++) {
      let s = HALF;
      for (let t = 0; t < n; t++) s += tmp[(ymin + t) * outW + xx] * kk[kb + t];
      out[yy * outW + xx] = clip8(s);
    }
  }
  return out;
}

/**
 * Image.resize((outW, outH), Image.LANCZOS) of Pillow 13 on a mode-L image.
 * @param {Uint8Array} gray inW*inH values, row-major
 */
export function resizeGray(gray, inW, inH, outW, outH, options = {}) {
  if (gray.length < inW * inH) throw new RangeError('grey buffer too small');
  const r = new LanczosResizer(inW, inH, outW, outH, options);
  r.pushRows(gray, inH);
  return r.result();
}
