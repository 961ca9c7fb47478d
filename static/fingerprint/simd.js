// The fast engine: the same fingerprints as pixels.js, with the hot loops in WebAssembly SIMD
// (kernels.wat). One pass over the rows, four at a time:
//   RGBA rows --luma_gray--> PDQ float32 luma + Pillow 'L' grey
//   luma --interleave4--> 4 rows as lanes --box_rows4--> first row pass --deinterleave4--> ring
//   ring --col_step--> first column pass --interleave4 + box_rows4_picked--> second row pass,
//        kept at the sampled columns only (column-major, for the last column pass)
//   grey --lanczos_h4 (or vacc_row when Pillow resizes vertically first)--> the three resizes
// What is small stays in JavaScript and is shared with pixels.js: the last column pass at the
// sampled columns, quality, DCT, median, dihedral variants, the vertical LANCZOS pass and the
// imagehash bits. tests/js/wasm_kernels.test.mjs checks the two engines give identical
// results on every vector and on random images of many shapes.
//
// WebAssembly may be missing (iOS Lockdown Mode turns it off, some hardened browsers too) or
// lack SIMD (browsers before 2021): simdEngine() then returns null and callers use the
// JavaScript engine, which gives the same fingerprints, only slower.
'use strict';

import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';
import {
  DCT_MATRIX,
  PDQ_MIN_DIM,
  cropBoxes,
  jaroszWindow,
  pdqResultFromGrids,
  pdqTooSmallResult,
  samplingPlan,
} from './pdq.js';
import { lanczosCoeffs, pillow13VerticalFirst, verticalTaps } from './resize.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const SLACK = 64; // bytes after every buffer: vector loads and stores may run past a row

function decodeBase64(b64) {
  if (typeof atob === 'function') {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

let compiled; // undefined: not tried yet; null: unavailable; else a WebAssembly.Module
let unavailableReason = null;

function compileOnce() {
  if (compiled !== undefined) return compiled;
  compiled = null;
  try {
    if (typeof WebAssembly !== 'object') {
      unavailableReason = 'this browser has no WebAssembly';
    } else if (!LITTLE_ENDIAN) {
      unavailableReason = 'big-endian device';
    } else {
      const bytes = decodeBase64(KERNELS_WASM_BASE64);
      if (!WebAssembly.validate(bytes)) unavailableReason = 'this browser has no WebAssembly SIMD';
      // Synchronous compilation is allowed in workers and in Node; the module is 3.5 kB.
      else compiled = new WebAssembly.Module(bytes);
    }
  } catch (e) {
    // A Content-Security-Policy without 'wasm-unsafe-eval' lands here (CompileError).
    unavailableReason = `WebAssembly refused: ${(e && e.message) || e}`;
  }
  return compiled;
}

/** Why simdEngine() returned null (for diagnostics), or null when it did not. */
export function simdUnavailableReason() {
  compileOnce();
  return compiled ? null : unavailableReason;
}

let engine; // one instance per thread, its memory reused from image to image

/** The WebAssembly engine, or null when this environment cannot run it. */
export function simdEngine() {
  if (engine !== undefined) return engine;
  const mod = compileOnce();
  engine = null;
  if (!mod) return null;
  try {
    engine = new SimdEngine(new WebAssembly.Instance(mod, {}).exports);
  } catch (e) {
    unavailableReason = `WebAssembly instance failed: ${(e && e.message) || e}`;
  }
  return engine;
}

const roundUp = (n, m) => Math.ceil(n / m) * m;

/** A bump allocator over the instance's memory, reset for every image. */
class Arena {
  constructor(memory) {
    this.memory = memory;
    this.top = 0;
  }

  alloc(bytes) {
    const at = this.top;
    this.top = roundUp(at + bytes + SLACK, 16);
    return at;
  }

  /** Make the memory big enough for everything allocated (it never shrinks). */
  commit() {
    const need = Math.ceil(this.top / 65536) - this.memory.buffer.byteLength / 65536;
    if (need > 0) this.memory.grow(need);
    return this.memory.buffer;
  }
}

// Pillow coefficients for lanczos_h4: 16-bit hi/lo halves, taps padded to a multiple of 8.
function packHorizontal(c, arena) {
  const kstride = roundUp(Math.max(1, c.ksize), 8);
  return {
    c,
    kstride,
    hi: arena.alloc(c.outSize * kstride * 2),
    lo: arena.alloc(c.outSize * kstride * 2),
    bounds: arena.alloc(c.outSize * 8),
  };
}

function writeHorizontal(h, buffer) {
  const { c, kstride } = h;
  const hi = new Int16Array(buffer, h.hi, c.outSize * kstride);
  const lo = new Int16Array(buffer, h.lo, c.outSize * kstride);
  hi.fill(0);
  lo.fill(0);
  new Int32Array(buffer, h.bounds, c.outSize * 2).set(c.bounds);
  for (let o = 0; o < c.outSize; o++) {
    const n = c.bounds[2 * o + 1];
    for (let t = 0; t < n; t++) {
      const k = c.kk[o * c.ksize + t]; // an integer with |k| <= 2^22
      const l = k & 2047; // k = (k >> 11) * 2048 + (k & 2047) for negative k too
      hi[o * kstride + t] = (k - l) / 2048;
      lo[o * kstride + t] = l;
    }
  }
}

class SimdEngine {
  constructor(exports) {
    this.k = exports;
    this.arena = new Arena(exports.memory);
  }

  /**
   * Everything fingerprintPixels computes, for a checked RGBA image.
   * @returns {{pdq: object, resized: Object<string, Uint8Array>}} PdqStream.finish()'s
   *   result and the resized grey images of each requested imagehash size
   */
  run({ width: W, height: H, data }, sizes) {
    const k = this.k;
    const arena = this.arena;
    arena.top = 0;
    const doPdq = W >= PDQ_MIN_DIM && H >= PDQ_MIN_DIM;
    const Wp = roundUp(W, 4);
    const block = roundUp(4 * W, 16); // pixels in a block of four rows, padded for luma_gray
    const rgba = arena.alloc(block * 4);
    const luma = arena.alloc(block * 4);
    const gray = arena.alloc(block);

    // PDQ state (see pdq.js JaroszDownsampler for the same steps in JavaScript).
    let p = null;
    if (doPdq) {
      const crops = cropBoxes(W, H);
      const plan = samplingPlan(W, H, crops.map((c) => c.box));
      const wc = jaroszWindow(H);
      const ringRows = wc + 5; // rows r-wc .. r+3 are alive while a block is filtered
      const Hp = roundUp(H, 4);
      const Pp = roundUp(plan.pickCols.length, 4);
      p = {
        crops,
        plan,
        wr: jaroszWindow(W),
        wc,
        half: (wc + 2) >> 1,
        ringRows,
        Hp,
        P: plan.pickCols.length,
        li: arena.alloc(16 * Wp),
        ri: arena.alloc(16 * Wp),
        ring: arena.alloc(ringRows * Wp * 4),
        sums: arena.alloc(Wp * 4),
        c1: arena.alloc(4 * Wp * 4),
        ci: arena.alloc(16 * Wp),
        picks: arena.alloc(plan.pickCols.length * 4),
        Pp,
        // second row pass at the picked columns (row-major, one column per pick), then the
        // last column pass over all of it; the grids sample their 64x64 values from that
        mid: arena.alloc(Hp * Pp * 4),
        col: arena.alloc(Hp * Pp * 4),
        // the DCT matrix, its transpose, and room for one grid, the DCT's middle and result
        dm: arena.alloc(16 * 64 * 4),
        dmt: arena.alloc(64 * 16 * 4),
        grid: arena.alloc(64 * 64 * 4),
        dtmp: arena.alloc(16 * 64 * 4),
        dout: arena.alloc(16 * 16 * 4),
        raw64: W === 64 && H === 64 ? new Float32Array(4096) : null,
        count: 0,
        c1Rows: 0,
        rowOut: 0,
      };
    }

    // The resizers: horizontal-first ones keep H rows of outW bytes; vertical-first ones
    // keep outH rows of int32 sums of the full width (Pillow's pass order, resize.js).
    const Wg = roundUp(W, 16);
    const resizers = Object.entries(sizes).map(([name, [outW, outH]]) => {
      const needH = W !== outW;
      const needV = H !== outH;
      const verticalFirst = needV && (!needH || pillow13VerticalFirst(W, H, outW, outH));
      const r = { name, outW, outH, needH, needV, verticalFirst };
      r.h = needH ? packHorizontal(lanczosCoeffs(W, outW), arena) : null;
      r.vc = needV ? lanczosCoeffs(H, outH) : null;
      if (verticalFirst) {
        r.acc = arena.alloc(outH * Wg * 4);
        r.mid = arena.alloc(outH * W + 3 * W);
        if (needH) r.out = arena.alloc((outH + 3) * outW);
        r.open = 0;
      } else {
        r.tmp = arena.alloc((H + 4) * outW);
        if (needV) {
          r.coefs = arena.alloc(outH * r.vc.ksize * 4);
          r.out = arena.alloc((outH + 1) * outW);
        }
      }
      return r;
    });

    const buffer = arena.commit();
    const u8 = new Uint8Array(buffer);
    for (const r of resizers) {
      if (r.h) writeHorizontal(r.h, buffer);
      if (r.verticalFirst) new Int32Array(buffer, r.acc, r.outH * Wg).fill(0);
      if (r.coefs) new Int32Array(buffer, r.coefs, r.outH * r.vc.ksize).set(r.vc.kk); // exact integers
    }
    if (p) {
      new Int32Array(buffer, p.picks, p.P).set(p.plan.pickCols);
      new Float32Array(buffer, p.sums, Wp).fill(0);
      new Float32Array(buffer, p.dm, 16 * 64).set(DCT_MATRIX);
      const dmt = new Float32Array(buffer, p.dmt, 64 * 16);
      for (let i = 0; i < 16; i++) for (let k = 0; k < 64; k++) dmt[k * 16 + i] = DCT_MATRIX[i * 64 + k];
    }

    for (let y = 0; y < H; y += 4) {
      const n = Math.min(4, H - y);
      u8.set(data.subarray(y * W * 4, (y + n) * W * 4), rgba);
      const count = roundUp(n * W, 16);
      if (p) k.luma_gray(rgba, luma, gray, count);
      else k.gray_only(rgba, gray, count);
      if (p) this._pdqBlock(p, W, y, n, luma, buffer);
      for (const r of resizers) this._resizeBlock(r, W, y, n, gray);
    }

    const pdq = p ? this._pdqFinish(p, W, H, buffer) : pdqTooSmallResult();
    const resized = {};
    for (const r of resizers) resized[r.name] = this._resizeFinish(r, W, H, Wg, buffer);
    return { pdq, resized };
  }

  _pdqBlock(p, W, y, n, luma, buffer) {
    const k = this.k;
    const Wp = roundUp(W, 4);
    // A short last block repeats its last row in the spare lanes: the same input gives the
    // same output, so the repeated stores write identical values.
    const row = (r) => luma + Math.min(r, n - 1) * W * 4;
    if (p.raw64) p.raw64.set(new Float32Array(buffer, luma, n * 64), y * 64);
    k.interleave4(row(0), row(1), row(2), row(3), p.li, W);
    k.box_rows4(p.li, p.ri, W, p.wr, 16);
    const slot = (r) => p.ring + ((y + Math.min(r, n - 1)) % p.ringRows) * Wp * 4;
    k.deinterleave4(p.ri, slot(0), slot(1), slot(2), slot(3), W);
    for (let r = 0; r < n; r++) this._columnStep(p, W, y + r);
  }

  // One row of the first column pass (pdq.js _columnStep).
  _columnStep(p, W, r) {
    const Wp = roundUp(W, 4);
    const slot = p.ring + (r % p.ringRows) * Wp * 4;
    const out = p.c1 + p.c1Rows * Wp * 4;
    if (r < p.half - 1) {
      p.count++;
      this.k.col_step(slot, 0, p.sums, 0, W, p.count, 0);
      return;
    }
    if (r < p.wc) {
      p.count++;
      this.k.col_step(slot, 0, p.sums, out, W, p.count, 1);
    } else {
      const old = p.ring + ((r - p.wc) % p.ringRows) * Wp * 4;
      this.k.col_step(slot, old, p.sums, out, W, p.count, 2);
    }
    if (++p.c1Rows === 4) this._flush(p, W);
  }

  // Second row pass on up to four first-column-pass rows, kept at the sampled columns.
  _flush(p, W) {
    if (p.c1Rows === 0) return;
    const Wp = roundUp(W, 4);
    const row = (r) => p.c1 + Math.min(r, p.c1Rows - 1) * Wp * 4;
    this.k.interleave4(row(0), row(1), row(2), row(3), p.ci, W);
    // Lanes beyond the last row land in mid's padding rows (Hp >= H), never read.
    this.k.box_rows4_picked(p.ci, W, p.wr, p.picks, p.P, p.mid + p.rowOut * p.Pp * 4, p.Pp * 4);
    p.rowOut += 4;
    p.c1Rows = 0;
  }

  _pdqFinish(p, W, H, buffer) {
    const Wp = roundUp(W, 4);
    // Phase 4 of the first column pass: only subtractions, shrinking window.
    for (let i = 0; i < p.half - 1; i++) {
      const old = p.ring + ((H - p.wc + i) % p.ringRows) * Wp * 4;
      p.count--;
      this.k.col_step(0, old, p.sums, p.c1 + p.c1Rows * Wp * 4, W, p.count, 3);
      if (++p.c1Rows === 4) this._flush(p, W);
    }
    this._flush(p, W);
    // The last column pass, four picked columns at a time, over every row (its float32
    // running sum needs them all); then each grid reads its 64 rows of its 64 columns.
    const k = this.k;
    const rowBytes = p.Pp * 4;
    for (let g = 0; g < p.Pp; g += 4) k.box_rows4(p.mid + g * 4, p.col + g * 4, H, p.wc, rowBytes);
    const col = new Float32Array(buffer, p.col, H * p.Pp);
    const grids = p.plan.grids.map(({ rows, at }) => {
      const out = new Float32Array(64 * 64);
      for (let ii = 0; ii < 64; ii++) {
        const o = rows[ii] * p.Pp;
        for (let jj = 0; jj < 64; jj++) out[ii * 64 + jj] = col[o + at[jj]];
      }
      return out;
    });
    const grid = new Float32Array(buffer, p.grid, 4096);
    const dct = (a64) => {
      grid.set(a64);
      k.dct16(p.grid, p.dm, p.dmt, p.dtmp, p.dout);
      return new Float32Array(buffer, p.dout, 256).slice();
    };
    return pdqResultFromGrids(grids, p.crops, p.raw64, dct);
  }

  _resizeBlock(r, W, y, n, gray) {
    const k = this.k;
    if (r.verticalFirst) {
      // Each input row adds its share to every output row whose window holds it.
      const Wg = roundUp(W, 16);
      for (let i = 0; i < n; i++) {
        const row = gray + i * W;
        r.open = verticalTaps(r.vc, r.open, y + i, (yy, w) => k.vacc_row(row, r.acc + yy * Wg * 4, W, w));
      }
    } else if (r.needH) {
      const h = r.h;
      // A short last block computes the stale rows after it too; they land in tmp's slack.
      k.lanczos_h4(gray, W, r.tmp + y * r.outW, r.outW, h.hi, h.lo, h.bounds, r.outW, h.kstride);
    } else {
      new Uint8Array(k.memory.buffer, r.tmp + y * W, n * W).set(new Uint8Array(k.memory.buffer, gray, n * W));
    }
  }

  _resizeFinish(r, W, H, Wg, buffer) {
    const k = this.k;
    if (r.verticalFirst) {
      for (let yy = 0; yy < r.outH; yy++) k.vclip_row(r.acc + yy * Wg * 4, r.mid + yy * W, W);
      if (!r.needH) return new Uint8Array(buffer, r.mid, r.outH * W).slice();
      const h = r.h;
      // Rows past outH (a short last group) are computed into r.out's spare rows.
      for (let yy = 0; yy < r.outH; yy += 4) {
        k.lanczos_h4(r.mid + yy * W, W, r.out + yy * r.outW, r.outW, h.hi, h.lo, h.bounds, r.outW, h.kstride);
      }
      return new Uint8Array(buffer, r.out, r.outH * r.outW).slice();
    }
    if (!r.needV) return new Uint8Array(buffer, r.tmp, H * r.outW).slice();
    // The vertical pass over the kept rows, one output row per call.
    const { ksize, bounds } = r.vc;
    for (let yy = 0; yy < r.outH; yy++) {
      k.vpass_row(r.tmp + bounds[2 * yy] * r.outW, r.outW, r.coefs + yy * ksize * 4, bounds[2 * yy + 1],
        r.out + yy * r.outW, r.outW);
    }
    return new Uint8Array(buffer, r.out, r.outH * r.outW).slice();
  }
}
