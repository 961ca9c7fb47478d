// PDQ exactly as pdqhash 0.2.8 computes it (Cython over Meta's ThreatExchange pdq/cpp).
//
// The reference does all its arithmetic in C `float` (IEEE binary32). JS numbers are binary64,
// so every +, -, *, / on PDQ data is rounded back to binary32, either with Math.fround or by
// storing into a Float32Array (a store rounds exactly like fround). For +, -, *, / of two
// binary32 values, computing in binary64 and then rounding to binary32 gives the correctly
// rounded binary32 result (binary64 has more than 2*24+2 significand bits), so this reproduces
// the C float operations bit for bit. Without it about 1 image in 6 gets a different hash.
//
// Steps (the project's fingerprint spec, summarised in docs/fingerprints.md):
//   luma Y = f32(R*0.299 + G*0.587 + B*0.114) computed in float64 (the numpy line in pdqhash)
//   fewer than 5 rows or columns -> hash 0, quality 0
//   exactly 64x64 -> compute() uses the luma as is; compute_dihedral() still filters (!)
//   Jarosz: box filter along rows (window floor((W+127)/128)), then along columns
//           (window floor((H+127)/128)), twice; then sample 64x64 at pixel centres
//   quality from image-domain gradients; 16x16 of the 64-point DCT; Torben median; bits
//
// Streaming: the filter is computed row by row, so no full-size float buffer exists. The
// second pair of box passes is only evaluated where the 64x64 sampling reads it: the row pass
// still runs its running sum over every pixel (its float32 rounding depends on the whole
// history), but only the 64 sampled columns are kept, and the last column pass runs on those
// 64 columns only. Values are identical to the full computation.
'use strict';

import { words16ToHex } from './hex.js';

export const PDQ_MIN_DIM = 5;
const f32 = Math.fround;

/** Jarosz window size for one axis, computeJaroszFilterWindowSize(old, 64). */
export function jaroszWindow(size) {
  return Math.floor((size + 2 * 64 - 1) / (2 * 64));
}

// Reciprocals 1/n for the box-filter divisions.
//
// Why a multiplication is exact here: the C++ computes the float32 quotient sum/n. For a
// float32 x and an integer 1 <= n <= 2^20, x/n is never closer to a float32 rounding boundary
// (a midpoint between two float32 values) than about 2^-25/n relative: such a midpoint has a
// 25-bit significand, so n times it cannot be a 24-bit float32 unless they are equal, and
// equality is impossible for the same reason. x * (1/n) computed in float64 is within 2^-52
// relative of x/n, far closer than that, so both round to the same float32 -- as long as the
// result is a normal float32 (subnormals have a fixed spacing). PDQ box sums are 0 or at least
// the float32 ulp of a luma value (~2^-27), so they are normal. tests/js/pdq_math.test.mjs
// checks the identity on many millions of random float32 values.
function reciprocals(win) {
  const r = new Float64Array(win + 1);
  for (let n = 1; n <= win; n++) r[n] = 1 / n;
  return r;
}

/**
 * One 1-D box filter (box1DFloat of pdq/cpp), stride 1: the running sum is a float32 that is
 * rounded after every add and subtract, exactly as the C++ `float sum` is. A window of 1 is
 * therefore NOT an identity (sum + next - previous can round).
 */
export function box1D(inp, inOff, out, outOff, len, win, recip = reciprocals(win)) {
  const half = (win + 2) >> 1;
  const p1 = half - 1;
  const p2 = win - half + 1;
  const p3 = len - win;
  const p4 = half - 1;
  let sum = 0;
  let count = 0;
  let ri = inOff;
  let li = inOff;
  let oi = outOff;
  for (let i = 0; i < p1; i++) {
    sum = f32(sum + inp[ri++]);
    count++;
  }
  for (let i = 0; i < p2; i++) {
    sum = f32(sum + inp[ri++]);
    count++;
    out[oi++] = sum * recip[count]; // Float32Array store rounds: = float32 sum / count
  }
  const r = recip[win];
  for (let i = 0; i < p3; i++) {
    sum = f32(f32(sum + inp[ri++]) - inp[li++]);
    out[oi++] = sum * r;
  }
  for (let i = 0; i < p4; i++) {
    sum = f32(sum - inp[li++]);
    count--;
    out[oi++] = sum * recip[count];
  }
}

/**
 * box1D on four rows at once (offsets a..d in `inp`, A..D in `out`). The four running sums
 * are independent, so interleaving them hides the add/round latency of one long chain; each
 * row gets exactly the operations box1D would apply to it.
 */
function box1D4(inp, a, b, c, d, out, A, B, C, D, len, win, recip) {
  const half = (win + 2) >> 1;
  const p1 = half - 1;
  const p2 = win - half + 1;
  const p3 = len - win;
  const p4 = half - 1;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let count = 0;
  let ri = 0;
  let li = 0;
  let oi = 0;
  for (let i = 0; i < p1; i++, ri++) {
    s0 = f32(s0 + inp[a + ri]);
    s1 = f32(s1 + inp[b + ri]);
    s2 = f32(s2 + inp[c + ri]);
    s3 = f32(s3 + inp[d + ri]);
    count++;
  }
  for (let i = 0; i < p2; i++, ri++, oi++) {
    s0 = f32(s0 + inp[a + ri]);
    s1 = f32(s1 + inp[b + ri]);
    s2 = f32(s2 + inp[c + ri]);
    s3 = f32(s3 + inp[d + ri]);
    count++;
    const r = recip[count];
    out[A + oi] = s0 * r;
    out[B + oi] = s1 * r;
    out[C + oi] = s2 * r;
    out[D + oi] = s3 * r;
  }
  const r = recip[win];
  for (let i = 0; i < p3; i++, ri++, li++, oi++) {
    s0 = f32(f32(s0 + inp[a + ri]) - inp[a + li]);
    s1 = f32(f32(s1 + inp[b + ri]) - inp[b + li]);
    s2 = f32(f32(s2 + inp[c + ri]) - inp[c + li]);
    s3 = f32(f32(s3 + inp[d + ri]) - inp[d + li]);
    out[A + oi] = s0 * r;
    out[B + oi] = s1 * r;
    out[C + oi] = s2 * r;
    out[D + oi] = s3 * r;
  }
  for (let i = 0; i < p4; i++, li++, oi++) {
    s0 = f32(s0 - inp[a + li]);
    s1 = f32(s1 - inp[b + li]);
    s2 = f32(s2 - inp[c + li]);
    s3 = f32(s3 - inp[d + li]);
    count--;
    const rr = recip[count];
    out[A + oi] = s0 * rr;
    out[B + oi] = s1 * rr;
    out[C + oi] = s2 * rr;
    out[D + oi] = s3 * rr;
  }
}

/**
 * The running sum along a row of `inp` (from inOff), keeping only the outputs at the sampled
 * positions `pick` (non-decreasing), written to out[outOff + n] for the n-th pick. Every
 * add/subtract still happens, so the rounding history is the reference's. A write happens
 * at most 64 times per row, so a plain division is fine here.
 */
export function box1DPicked(inp, inOff, len, win, pick, out, outOff) {
  const half = (win + 2) >> 1;
  const p1 = half - 1;
  const p2 = win - half + 1;
  const p3 = len - win;
  const p4 = half - 1;
  let sum = 0;
  let count = 0;
  let ri = inOff;
  let li = inOff;
  let oi = 0;
  let n = 0;
  let next = pick[0];
  const npick = pick.length;
  for (let i = 0; i < p1; i++) {
    sum = f32(sum + inp[ri++]);
    count++;
  }
  for (let i = 0; i < p2; i++, oi++) {
    sum = f32(sum + inp[ri++]);
    count++;
    while (oi === next) {
      out[outOff + n++] = sum / count;
      next = n < npick ? pick[n] : -1;
    }
  }
  // Phase 3 (outputs p2 .. p2+p3-1) runs from pick to pick with no test in the inner loop.
  let done = 0; // phase-3 iterations completed; the last one produced output p2 + done - 1
  while (next >= p2 && next < p2 + p3) {
    const stop = next - p2 + 1;
    for (; done < stop; done++) sum = f32(f32(sum + inp[ri++]) - inp[li++]);
    while (next === p2 + done - 1) {
      out[outOff + n++] = sum / count;
      next = n < npick ? pick[n] : -1;
    }
  }
  for (; done < p3; done++) sum = f32(f32(sum + inp[ri++]) - inp[li++]);
  oi = p2 + p3;
  for (let i = 0; i < p4; i++, oi++) {
    sum = f32(sum - inp[li++]);
    count--;
    while (oi === next) {
      out[outOff + n++] = sum / count;
      next = n < npick ? pick[n] : -1;
    }
  }
}

/** box1DPicked on four rows at once (the same picks for all four), to overlap their latency. */
function box1DPicked4(inp, a, b, c, d, len, win, pick, out, A, B, C, D) {
  const half = (win + 2) >> 1;
  const p1 = half - 1;
  const p2 = win - half + 1;
  const p3 = len - win;
  const p4 = half - 1;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let count = 0;
  let ri = 0;
  let li = 0;
  let n = 0;
  let next = pick[0];
  const npick = pick.length;
  for (let i = 0; i < p1; i++, ri++) {
    s0 = f32(s0 + inp[a + ri]);
    s1 = f32(s1 + inp[b + ri]);
    s2 = f32(s2 + inp[c + ri]);
    s3 = f32(s3 + inp[d + ri]);
    count++;
  }
  for (let oi = 0; oi < p2; oi++, ri++) {
    s0 = f32(s0 + inp[a + ri]);
    s1 = f32(s1 + inp[b + ri]);
    s2 = f32(s2 + inp[c + ri]);
    s3 = f32(s3 + inp[d + ri]);
    count++;
    while (oi === next) {
      out[A + n] = s0 / count;
      out[B + n] = s1 / count;
      out[C + n] = s2 / count;
      out[D + n] = s3 / count;
      n++;
      next = n < npick ? pick[n] : -1;
    }
  }
  let done = 0;
  while (next >= p2 && next < p2 + p3) {
    const stop = next - p2 + 1;
    for (; done < stop; done++, ri++, li++) {
      s0 = f32(f32(s0 + inp[a + ri]) - inp[a + li]);
      s1 = f32(f32(s1 + inp[b + ri]) - inp[b + li]);
      s2 = f32(f32(s2 + inp[c + ri]) - inp[c + li]);
      s3 = f32(f32(s3 + inp[d + ri]) - inp[d + li]);
    }
    while (next === p2 + done - 1) {
      out[A + n] = s0 / count;
      out[B + n] = s1 / count;
      out[C + n] = s2 / count;
      out[D + n] = s3 / count;
      n++;
      next = n < npick ? pick[n] : -1;
    }
  }
  for (; done < p3; done++, ri++, li++) {
    s0 = f32(f32(s0 + inp[a + ri]) - inp[a + li]);
    s1 = f32(f32(s1 + inp[b + ri]) - inp[b + li]);
    s2 = f32(f32(s2 + inp[c + ri]) - inp[c + li]);
    s3 = f32(f32(s3 + inp[d + ri]) - inp[d + li]);
  }
  for (let oi = p2 + p3, i = 0; i < p4; i++, oi++, li++) {
    s0 = f32(s0 - inp[a + li]);
    s1 = f32(s1 - inp[b + li]);
    s2 = f32(s2 - inp[c + li]);
    s3 = f32(s3 - inp[d + li]);
    count--;
    while (oi === next) {
      out[A + n] = s0 / count;
      out[B + n] = s1 / count;
      out[C + n] = s2 / count;
      out[D + n] = s3 / count;
      n++;
      next = n < npick ? pick[n] : -1;
    }
  }
}

/** decimateFloat's sample positions: floor(((k + 0.5) * size) / 64) for k = 0..63. */
export function samplePositions(size) {
  const pos = new Int32Array(64);
  for (let k = 0; k < 64; k++) pos[k] = Math.trunc(((k + 0.5) * size) / 64);
  return pos;
}

/**
 * The 64x64 sampling grids: the image's own, then one per crop [x0, y0, x1, y1). The second
 * row pass keeps the columns of all of them (merged, sorted and deduplicated in `pickCols`:
 * a crop that keeps the full width, as a top or bottom cut does, shares every column with the
 * image's own grid), and each grid remembers where its 64 columns are in that list (`at`) and
 * which rows it samples (`rows`). Shared by the JavaScript and the WebAssembly filters.
 */
export function samplingPlan(width, height, crops = []) {
  const grids = [[0, 0, width, height], ...crops].map(([x0, y0, x1, y1]) => {
    const cols = samplePositions(x1 - x0).map((c) => c + x0);
    const rows = samplePositions(y1 - y0).map((r) => r + y0);
    return { cols, rows, at: new Int32Array(64) };
  });
  const unique = [...new Set(grids.flatMap((g) => Array.from(g.cols)))].sort((a, b) => a - b);
  const where = new Map(unique.map((c, n) => [c, n]));
  for (const g of grids) g.cols.forEach((c, k) => { g.at[k] = where.get(c); });
  return { grids, pickCols: Int32Array.from(unique) };
}

/**
 * The second column pass, sampled: for each grid, column `at[jj]` of the picked columns
 * (read through column(p) -> array of `height` floats) is box-filtered down its length and
 * kept at the grid's 64 rows. Returns one 64x64 row-major Float32Array per grid.
 */
export function sampleGrids(grids, height, wc, column) {
  const tmp = new Float32Array(64);
  return grids.map(({ rows, at }) => {
    const out = new Float32Array(64 * 64);
    for (let jj = 0; jj < 64; jj++) {
      box1DPicked(column(at[jj]), 0, height, wc, rows, tmp, 0);
      for (let ii = 0; ii < 64; ii++) out[ii * 64 + jj] = tmp[ii];
    }
    return out;
  });
}

/**
 * Streaming Jarosz filter + 64x64 decimation. Push float32 luma rows top to bottom (one at a
 * time or in blocks), then call finish() for the 64x64 buffer (Float32Array(4096), row-major).
 */
export class JaroszDownsampler {
  /**
   * @param {number[][]} [crops] extra sampling grids [x0, y0, x1, y1): finish() also returns
   *   the filtered image sampled 64x64 over each of these rectangles (see PdqStream's crops)
   */
  constructor(width, height, crops = []) {
    this.W = width;
    this.H = height;
    this.wr = jaroszWindow(width);
    this.wc = jaroszWindow(height);
    this.recipR = reciprocals(this.wr);
    this.recipC = reciprocals(this.wc);
    const plan = samplingPlan(width, height, crops);
    this.grids = plan.grids;
    this.pickCols = plan.pickCols;
    this.P = plan.pickCols.length;
    // Ring of first-row-pass outputs: the column pass subtracts row r - wc when adding row r,
    // and rows arrive in blocks of up to BLOCK_ROWS.
    this.ringRows = this.wc + 1 + BLOCK_ROWS;
    this.ring = new Float32Array(this.ringRows * width);
    this.colSum = new Float32Array(width); // float32 running sums, one per column
    this.count = 0;
    this.half = (this.wc + 2) >> 1;
    // First-column-pass output rows waiting for the second row pass (done 4 at a time).
    this.c1 = new Float32Array(4 * width);
    this.c1Rows = 0;
    this.mid = new Float32Array(height * this.P); // second row pass, sampled columns only
    this.rowIn = 0; // rows received
    this.rowOut = 0; // rows through the second row pass
  }

  /**
   * @param {Float32Array} block `n` rows of float32 luma, row r at block[r*width ...]
   * @param {number} [n=1] number of rows in the block (1..BLOCK_ROWS)
   */
  pushRows(block, n = 1) {
    if (n > BLOCK_ROWS) throw new RangeError(`at most ${BLOCK_ROWS} rows per block`);
    const W = this.W;
    const R = this.ringRows;
    const r0 = this.rowIn;
    if (r0 + n > this.H) throw new RangeError('too many rows');
    // First row pass, four rows at a time, straight into the ring.
    let i = 0;
    for (; i + 3 < n; i += 4) {
      box1D4(block, i * W, (i + 1) * W, (i + 2) * W, (i + 3) * W,
        this.ring, ((r0 + i) % R) * W, ((r0 + i + 1) % R) * W, ((r0 + i + 2) % R) * W, ((r0 + i + 3) % R) * W,
        W, this.wr, this.recipR);
    }
    for (; i < n; i++) box1D(block, i * W, this.ring, ((r0 + i) % R) * W, W, this.wr, this.recipR);
    // First column pass, row by row, all columns together (each column sees exactly the
    // operations of box1DFloat along it).
    for (let k = 0; k < n; k++) this._columnStep(this.rowIn++);
  }

  _columnStep(r) {
    const W = this.W;
    const colSum = this.colSum;
    const ring = this.ring;
    const slot = (r % this.ringRows) * W;
    if (r < this.half - 1) {
      for (let j = 0; j < W; j++) colSum[j] = colSum[j] + ring[slot + j];
      this.count++;
      return;
    }
    const c1 = this.c1;
    const o = this.c1Rows * W;
    if (r < this.wc) {
      this.count++;
      const inv = this.recipC[this.count];
      for (let j = 0; j < W; j++) {
        const s = colSum[j] + ring[slot + j];
        colSum[j] = s; // float32 rounding happens on this store
        c1[o + j] = colSum[j] * inv;
      }
    } else {
      const old = ((r - this.wc) % this.ringRows) * W;
      const inv = this.recipC[this.count];
      for (let j = 0; j < W; j++) {
        const s = f32(colSum[j] + ring[slot + j]) - ring[old + j];
        colSum[j] = s;
        c1[o + j] = colSum[j] * inv;
      }
    }
    this._queueRow();
  }

  _queueRow() {
    if (++this.c1Rows === 4) this._flushRows();
  }

  // Second row pass on the queued first-column-pass rows, keeping the 64 sampled columns.
  _flushRows() {
    const W = this.W;
    const P = this.P;
    if (this.c1Rows === 4) {
      const o = this.rowOut * P;
      box1DPicked4(this.c1, 0, W, 2 * W, 3 * W, W, this.wr, this.pickCols, this.mid, o, o + P, o + 2 * P, o + 3 * P);
      this.rowOut += 4;
      this.c1Rows = 0;
      return;
    }
    for (let k = 0; k < this.c1Rows; k++) {
      box1DPicked(this.c1, k * W, W, this.wr, this.pickCols, this.mid, this.rowOut * P);
      this.rowOut++;
    }
    this.c1Rows = 0;
  }

  /** @returns {Float32Array[]} 64x64 row-major: the image's, then one per crop */
  finish() {
    if (this.rowIn !== this.H) throw new RangeError(`expected ${this.H} rows, got ${this.rowIn}`);
    const W = this.W;
    const H = this.H;
    const wc = this.wc;
    const colSum = this.colSum;
    // Phase 4 of the first column pass: only subtractions, shrinking window.
    for (let i = 0; i < this.half - 1; i++) {
      const old = ((H - wc + i) % this.ringRows) * W;
      this.count--;
      const inv = this.recipC[this.count];
      const o = this.c1Rows * W;
      for (let j = 0; j < W; j++) {
        colSum[j] = colSum[j] - this.ring[old + j];
        this.c1[o + j] = colSum[j] * inv;
      }
      this._queueRow();
    }
    this._flushRows();
    // Second column pass on each grid's 64 kept columns, sampled at its 64 rows.
    const P = this.P;
    const col = new Float32Array(H);
    return sampleGrids(this.grids, H, wc, (c) => {
      for (let i = 0; i < H; i++) col[i] = this.mid[i * P + c];
      return col;
    });
  }
}

/** Rows per block accepted by JaroszDownsampler.pushRows / PdqStream.pushRows. */
export const BLOCK_ROWS = 8;

// The 16x64 DCT matrix of pdqhashing.cpp: f32(f32(sqrt(2/64)) * cos((pi/2/64)*(i+1)*(2j+1))),
// the product taken in float64 (float times double) and then stored as float.
export const DCT_MATRIX = (() => {
  const m = new Float32Array(16 * 64);
  const scale = f32(Math.sqrt(2.0 / 64));
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) m[i * 64 + j] = scale * Math.cos((Math.PI / 2.0 / 64) * (i + 1) * (2 * j + 1));
  }
  return m;
})();

/** pdqImageDomainQualityMetric: 0..100 from vertical and horizontal neighbour differences. */
export function pdqQuality(a64) {
  let gradientSum = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) {
      const d = Math.trunc(f32(f32(f32(a64[i * 64 + j] - a64[(i + 1) * 64 + j]) * 100) / 255));
      gradientSum += Math.abs(d);
    }
  }
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 63; j++) {
      const d = Math.trunc(f32(f32(f32(a64[i * 64 + j] - a64[i * 64 + j + 1]) * 100) / 255));
      gradientSum += Math.abs(d);
    }
  }
  const quality = Math.trunc(gradientSum / 90);
  return quality > 100 ? 100 : quality;
}

/** dct64To16: B = D A D^T with float32 accumulation in the reference's index order. */
export function pdqDct16(a64) {
  const D = DCT_MATRIX;
  const T = new Float32Array(16 * 64);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) sum = f32(sum + f32(D[i * 64 + k] * a64[k * 64 + j]));
      T[i * 64 + j] = sum;
    }
  }
  const B = new Float32Array(256);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) sum = f32(sum + f32(T[i * 64 + k] * D[j * 64 + k]));
      B[i * 16 + j] = sum;
    }
  }
  return B;
}

/** Torben's median (pdq/cpp/hashing/torben.cpp) in float32. */
export function torben(m) {
  const n = m.length;
  let min = m[0];
  let max = m[0];
  for (let i = 1; i < n; i++) {
    if (m[i] < min) min = m[i];
    if (m[i] > max) max = m[i];
  }
  const halfN = (n + 1) >> 1;
  let less = 0;
  let greater = 0;
  let equal = 0;
  let guess = 0;
  let maxltguess = 0;
  let mingtguess = 0;
  for (;;) {
    guess = f32(f32(min + max) / 2);
    less = 0;
    greater = 0;
    equal = 0;
    maxltguess = min;
    mingtguess = max;
    for (let i = 0; i < n; i++) {
      const v = m[i];
      if (v < guess) {
        less++;
        if (v > maxltguess) maxltguess = v;
      } else if (v > guess) {
        greater++;
        if (v < mingtguess) mingtguess = v;
      } else {
        equal++;
      }
    }
    if (less <= halfN && greater <= halfN) break;
    else if (less > greater) max = maxltguess;
    else min = mingtguess;
  }
  if (less >= halfN) return maxltguess;
  if (less + equal >= halfN) return guess;
  return mingtguess;
}

/** pdqBuffer16x16ToBits + Hash256::format: 64 lowercase hex digits. */
export function pdqHexFromDct(B) {
  const median = torben(B);
  const words = new Uint16Array(16);
  for (let i = 0; i < 16; i++) {
    let w = 0;
    for (let j = 0; j < 16; j++) if (B[i * 16 + j] > median) w |= 1 << j; // bit k=i*16+j
    words[i] = w;
  }
  return words16ToHex(words);
}

// The eight dihedral variants from sign flips and transposes of the 16x16 DCT
// (dct16OriginalTo* in pdqhashing.cpp), in compute_dihedral's order.
export const DIHEDRAL_NAMES = ['original', 'rot90', 'rot180', 'rot270', 'flipX', 'flipY', 'flipPlus1', 'flipMinus1'];

export function dihedralDcts(A) {
  const out = [];
  const make = (fn) => {
    const B = new Float32Array(256);
    for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) fn(B, i, j, A[i * 16 + j]);
    out.push(B);
  };
  make((B, i, j, v) => { B[i * 16 + j] = v; });
  make((B, i, j, v) => { B[j * 16 + i] = j & 1 ? v : -v; });
  make((B, i, j, v) => { B[i * 16 + j] = (i + j) & 1 ? -v : v; });
  make((B, i, j, v) => { B[j * 16 + i] = i & 1 ? v : -v; });
  make((B, i, j, v) => { B[i * 16 + j] = i & 1 ? v : -v; });
  make((B, i, j, v) => { B[i * 16 + j] = j & 1 ? v : -v; });
  make((B, i, j, v) => { B[j * 16 + i] = v; });
  make((B, i, j, v) => { B[j * 16 + i] = (i + j) & 1 ? -v : v; });
  return out;
}

const ZERO_HASH = '0'.repeat(64);

// ---------------------------------------------------------------------------------------
// Crop fingerprints. A copy with its borders cropped off has a different PDQ (5% off each side
// already breaks the match), and so has a copy with 10% cut off one side only. Submitting the
// PDQs of the central 95%, 92.5%, 90% and 80%, and of the image with 10% and 20% of its width
// or height cut off each side (each of those with its mirror, for a copy mirrored and then
// cut), lets any platform match such copies with the plain PDQ of the copy
// (docs/fingerprints.md, the recall table: every crop, mirror and rotation row at 92% or more).
//
// They cost little: pdqhash on a cropped copy blurs the crop (Jarosz filter, window 1/128 of
// the crop's size) and samples it on a 64x64 grid over the crop. We take the blur we already
// compute for the whole image (window 1/128 of the image's size, a little wider) and sample it
// on the crop's grid: only the picked values differ, the filtering is shared. This is an
// approximation of pdqhash on the cropped copy, not bit-identical: the blur is 5-25% wider and
// the crop's edges see pixels outside it. Measured against pdqhash on the cropped copies
// (bench/recall_table.py): 1 bit apart on average for 95% and 90%, about 6 for 80% and the
// one-sided cuts, far inside the match distance of 31. The mirror comes from the same DCT
// (PDQ's dihedral sign flips), so it costs one more median.

/** Fractions of width and height kept by the centre crops we fingerprint. */
export const CROP_FRACTIONS = Object.freeze([0.95, 0.925, 0.9, 0.8]);

/** Shares of the width (left, right) or height (top, bottom) cut off one side. */
export const SIDE_CUTS = Object.freeze([0.1, 0.2]);

/** The sides a one-sided cut is taken off, in the order their fingerprints are listed. */
export const CROP_SIDES = Object.freeze(['left', 'right', 'top', 'bottom']);

/** Smaller crops get no fingerprint: a few pixels off a thumbnail is not an edit to match. */
export const CROP_MIN_SIDE = 64;

/** Index of the mirror (a left-right flip: pdqhash's "flipY") in dihedralDcts' order. */
export const MIRROR_VARIANT = 5;

/** The crop that keeps `keep` of each side, centred: [x0, y0, x1, y1) in pixels. */
export function centreCropBox(width, height, keep) {
  const dw = Math.round((width * (1 - keep)) / 2);
  const dh = Math.round((height * (1 - keep)) / 2);
  return [dw, dh, width - dw, height - dh];
}

/** The box left after cutting round(size * cut) pixels off one side: [x0, y0, x1, y1). */
export function sideCropBox(width, height, side, cut) {
  const dx = Math.round(width * cut);
  const dy = Math.round(height * cut);
  switch (side) {
    case 'left': return [dx, 0, width, height];
    case 'right': return [0, 0, width - dx, height];
    case 'top': return [0, dy, width, height];
    case 'bottom': return [0, 0, width, height - dy];
    default: throw new RangeError(`no side ${side}`);
  }
}

/**
 * The crops large enough to fingerprint, as {crop, box} for the centre crops of `fractions`
 * (`crop` is the fraction kept), then {side, cut, box} for each cut in `cuts` off each side
 * (cuts outer, sides in CROP_SIDES order).
 */
export function cropBoxes(width, height, fractions = CROP_FRACTIONS, cuts = SIDE_CUTS) {
  const big = ([x0, y0, x1, y1]) => x1 - x0 >= CROP_MIN_SIDE && y1 - y0 >= CROP_MIN_SIDE;
  const out = [];
  for (const keep of fractions) {
    const box = centreCropBox(width, height, keep);
    if (big(box)) out.push({ crop: keep, box });
  }
  for (const cut of cuts) {
    for (const side of CROP_SIDES) {
      const box = sideCropBox(width, height, side, cut);
      if (big(box)) out.push({ side, cut, box });
    }
  }
  return out;
}

/**
 * Streaming PDQ over float32 luma rows. finish() returns what pdqhash.compute and
 * pdqhash.compute_dihedral return on the same pixels:
 * {pdq, quality, dihedral: [8 hex], dihedralQuality}.
 * For an exactly 64x64 image the two references differ (compute skips the filter,
 * compute_dihedral does not), and so do these fields; for every other size they coincide.
 */
export class PdqStream {
  /**
   * @param {object} [options]
   * @param {number[]} [options.crops=CROP_FRACTIONS] centre crops to fingerprint (fractions
   *   of width and height kept); [] for none
   * @param {number[]} [options.sideCuts=SIDE_CUTS] one-sided cuts to fingerprint; [] for none
   */
  constructor(width, height, { crops = CROP_FRACTIONS, sideCuts = SIDE_CUTS } = {}) {
    this.W = width;
    this.H = height;
    this.tooSmall = width < PDQ_MIN_DIM || height < PDQ_MIN_DIM;
    this.exact64 = width === 64 && height === 64;
    this.rows = 0;
    this.crops = [];
    if (this.tooSmall) return;
    this.crops = cropBoxes(width, height, crops, sideCuts);
    this.down = new JaroszDownsampler(width, height, this.crops.map((c) => c.box));
    if (this.exact64) this.raw64 = new Float32Array(4096);
  }

  /**
   * @param {Float32Array} block n rows of float32 luma, row r at block[r*width ...]
   * @param {number} [n=1] 1..BLOCK_ROWS
   */
  pushRows(block, n = 1) {
    const y = this.rows;
    this.rows += n;
    if (this.tooSmall) return;
    if (this.exact64) this.raw64.set(block.subarray(0, n * 64), y * 64);
    this.down.pushRows(block, n);
  }

  finish() {
    if (this.rows !== this.H) throw new RangeError(`expected ${this.H} rows, got ${this.rows}`);
    if (this.tooSmall) return pdqTooSmallResult();
    return pdqResultFromGrids(this.down.finish(), this.crops, this.exact64 ? this.raw64 : null);
  }
}

/** The PdqStream.finish() result for an image too small for PDQ (under 5 px on a side). */
export function pdqTooSmallResult() {
  return { pdq: ZERO_HASH, quality: 0, dihedral: new Array(8).fill(ZERO_HASH), dihedralQuality: 0, crops: [] };
}

/**
 * PdqStream.finish()'s result from the filtered 64x64 grids (the image's, then one per crop
 * of `crops`, cropBoxes' list) and, for an exactly 64x64 image, its unfiltered luma `raw64`.
 * `dct` is pdqDct16 or an exact equivalent (the WebAssembly engine passes its own). Each crop
 * gives {crop, pdq, quality} (a centre crop) or {side, cut, pdq, mirror, quality} (a
 * one-sided cut, with the PDQ of its mirror image).
 */
export function pdqResultFromGrids([filtered, ...cropGrids], crops, raw64 = null, dct = pdqDct16) {
  const dihedralQuality = pdqQuality(filtered);
  const B = dct(filtered);
  const dihedral = dihedralDcts(B).map(pdqHexFromDct);
  const results = cropGrids.map((a64, i) => {
    const quality = pdqQuality(a64);
    const D = dct(a64);
    const { crop, side, cut } = crops[i];
    if (side === undefined) return { crop, pdq: pdqHexFromDct(D), quality };
    return { side, cut, pdq: pdqHexFromDct(D), mirror: pdqHexFromDct(dihedralDcts(D)[MIRROR_VARIANT]), quality };
  });
  if (!raw64) {
    return { pdq: dihedral[0], quality: dihedralQuality, dihedral, dihedralQuality, crops: results };
  }
  // compute(): 64x64 luma is used directly.
  const quality = pdqQuality(raw64);
  const pdq = pdqHexFromDct(dct(raw64));
  return { pdq, quality, dihedral, dihedralQuality, crops: results };
}

/**
 * PDQ luma of `count` RGBA pixels from byte `offset`: f32(R*0.299 + G*0.587 + B*0.114) with
 * the products and sums in float64, as pdqhash's numpy expression computes it before
 * .astype('float32') (the Float32Array store is that final rounding). Alpha is ignored.
 */
export function pdqLumaFromRGBA(data, offset, count, out, outOffset = 0) {
  for (let x = 0, i = offset; x < count; x++, i += 4) {
    out[outOffset + x] = data[i] * 0.299 + data[i + 1] * 0.587 + data[i + 2] * 0.114;
  }
  return out;
}

/** PDQ from a full float32 luma image (row-major). */
export function pdqFromLuma(luma, width, height) {
  const s = new PdqStream(width, height);
  for (let y = 0; y < height; y += BLOCK_ROWS) {
    const n = Math.min(BLOCK_ROWS, height - y);
    s.pushRows(luma.subarray(y * width, (y + n) * width), n);
  }
  return s.finish();
}

