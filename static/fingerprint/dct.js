// The DCT-II that imagehash.phash gets from scipy.fftpack.dct (norm=None), bit for bit.
//
// Why not a plain cosine sum? scipy computes the DCT through pocketfft: a DCT-II of length N
// is folded into a real backward FFT of length N (radix-2 then radix-4 passes for N = 32),
// followed by a twiddle step. The rounding of that sequence is what decides exact ties: on
// flat, two-tone and checkerboard images many coefficients come out exactly equal (often 0)
// in scipy and as tiny noise in a cosine sum, and phash compares against a median, so the
// noise flips bits. This module repeats pocketfft's operations in the same order, all in
// float64 (a JS number), so every output double is identical.
//
// Only N = 32 is needed (phash resizes to 32x32). The twiddle factors are embedded as exact
// doubles instead of being computed with Math.cos/Math.sin: pocketfft builds them with the
// platform libm (glibc on the reference), and JS engines do not promise the same last bit.
// tests/test_js_vectors_fresh.py recomputes these tables in Python (glibc) the way pocketfft's
// sincos_2pibyn does and checks they equal the literals below.
'use strict';

export const DCT_N = 32;

// rfftp(32) factors as pocketfft orders them: [2, 4, 4] (the 2 is moved to the front).
// Twiddles for the first factor (ip=2, l1=1, ido=16): (re, im) of w^i, i = 1..7, w = e^(2 pi i/32).
// BEGIN TWIDDLES (checked by tests/test_js_vectors_fresh.py)
const TW_RADIX2 = new Float64Array([
  0.9807852804032304, 0.19509032201612825, 0.9238795325112867, 0.3826834323650898,
  0.8314696123025452, 0.5555702330196022, 0.7071067811865475, 0.7071067811865476,
  0.5555702330196022, 0.8314696123025452, 0.3826834323650898, 0.9238795325112867,
  0.19509032201612825, 0.9807852804032304,
]);
// Second factor (ip=4, l1=2, ido=4): (re, im) of w^(2j), j = 1..3.
const TW_RADIX4_PAIRS = new Float64Array([
  0.9238795325112867, 0.3826834323650898, 0.7071067811865475, 0.7071067811865476,
  0.3826834323650898, 0.9238795325112867,
]);
// T_dcst23 twiddle: real part of e^(2 pi i (k+1)/128), k = 0..31.
const TW_DCT = new Float64Array([
  0.9987954562051724, 0.9951847266721969, 0.989176509964781, 0.9807852804032304,
  0.970031253194544, 0.9569403357322088, 0.9415440651830208, 0.9238795325112867,
  0.9039892931234433, 0.881921264348355, 0.8577286100002721, 0.8314696123025452,
  0.8032075314806449, 0.773010453362737, 0.7409511253549591, 0.7071067811865475,
  0.6715589548470183, 0.6343932841636455, 0.5956993044924332, 0.5555702330196022,
  0.5141027441932217, 0.47139673682599753, 0.42755509343028203, 0.38268343236508967,
  0.33688985339221994, 0.2902846772544623, 0.24298017990326393, 0.19509032201612825,
  0.14673047445536164, 0.09801714032956049, 0.04906767432741799, -0,
]);
// END TWIDDLES

// pocketfft stores a factor's twiddles as WA(x, i) = wa[i + x*(ido-1)]; with ido = 4 each of
// the three (re, im) pairs starts 3 slots after the previous one.
const TW_RADIX4 = new Float64Array(9);
for (let j = 0; j < 3; j++) {
  TW_RADIX4[3 * j] = TW_RADIX4_PAIRS[2 * j];
  TW_RADIX4[3 * j + 1] = TW_RADIX4_PAIRS[2 * j + 1];
}

// pocketfft writes sqrt(2) as a long double literal rounded to double: that is Math.SQRT2.
const SQRT2 = Math.SQRT2;

// Backward radix-2 pass (pocketfft radb2). cc is read as CC(a,b,c) = cc[a + ido*(b + 2*c)],
// ch written as CH(a,b,c) = ch[a + ido*(b + l1*c)], twiddle WA(0,i) = wa[i].
function radb2(ido, l1, cc, ch, wa) {
  for (let k = 0; k < l1; k++) {
    const a = cc[ido * (2 * k)];
    const b = cc[ido - 1 + ido * (1 + 2 * k)];
    ch[ido * k] = a + b;
    ch[ido * (k + l1)] = a - b;
  }
  if ((ido & 1) === 0) {
    for (let k = 0; k < l1; k++) {
      ch[ido - 1 + ido * k] = 2 * cc[ido - 1 + ido * (2 * k)];
      ch[ido - 1 + ido * (k + l1)] = -2 * cc[ido * (1 + 2 * k)];
    }
  }
  if (ido <= 2) return;
  for (let k = 0; k < l1; k++) {
    for (let i = 2; i < ido; i += 2) {
      const ic = ido - i;
      const c0r = cc[i - 1 + ido * (2 * k)];
      const c0i = cc[i + ido * (2 * k)];
      const c1r = cc[ic - 1 + ido * (1 + 2 * k)];
      const c1i = cc[ic + ido * (1 + 2 * k)];
      ch[i - 1 + ido * k] = c0r + c1r;
      const tr2 = c0r - c1r;
      const ti2 = c0i + c1i;
      ch[i + ido * k] = c0i - c1i;
      const wr = wa[i - 2];
      const wi = wa[i - 1];
      ch[i + ido * (k + l1)] = wr * ti2 + wi * tr2;
      ch[i - 1 + ido * (k + l1)] = wr * tr2 - wi * ti2;
    }
  }
}

// Backward radix-4 pass (pocketfft radb4). CC(a,b,c) = cc[a + ido*(b + 4*c)],
// CH(a,b,c) = ch[a + ido*(b + l1*c)], WA(x,i) = wa[i + x*(ido-1)].
function radb4(ido, l1, cc, ch, wa) {
  const CC = (a, b, c) => cc[a + ido * (b + 4 * c)];
  const CHi = (a, b, c) => a + ido * (b + l1 * c);
  for (let k = 0; k < l1; k++) {
    const tr2 = CC(0, 0, k) + CC(ido - 1, 3, k);
    const tr1 = CC(0, 0, k) - CC(ido - 1, 3, k);
    const tr3 = 2 * CC(ido - 1, 1, k);
    const tr4 = 2 * CC(0, 2, k);
    ch[CHi(0, k, 0)] = tr2 + tr3;
    ch[CHi(0, k, 2)] = tr2 - tr3;
    ch[CHi(0, k, 3)] = tr1 + tr4;
    ch[CHi(0, k, 1)] = tr1 - tr4;
  }
  if ((ido & 1) === 0) {
    for (let k = 0; k < l1; k++) {
      const ti1 = CC(0, 3, k) + CC(0, 1, k);
      const ti2 = CC(0, 3, k) - CC(0, 1, k);
      const tr2 = CC(ido - 1, 0, k) + CC(ido - 1, 2, k);
      const tr1 = CC(ido - 1, 0, k) - CC(ido - 1, 2, k);
      ch[CHi(ido - 1, k, 0)] = tr2 + tr2;
      ch[CHi(ido - 1, k, 1)] = SQRT2 * (tr1 - ti1);
      ch[CHi(ido - 1, k, 2)] = ti2 + ti2;
      ch[CHi(ido - 1, k, 3)] = -SQRT2 * (tr1 + ti1);
    }
  }
  if (ido <= 2) return;
  for (let k = 0; k < l1; k++) {
    for (let i = 2; i < ido; i += 2) {
      const ic = ido - i;
      const tr2 = CC(i - 1, 0, k) + CC(ic - 1, 3, k);
      const tr1 = CC(i - 1, 0, k) - CC(ic - 1, 3, k);
      const ti1 = CC(i, 0, k) + CC(ic, 3, k);
      const ti2 = CC(i, 0, k) - CC(ic, 3, k);
      const tr4 = CC(i, 2, k) + CC(ic, 1, k);
      const ti3 = CC(i, 2, k) - CC(ic, 1, k);
      const tr3 = CC(i - 1, 2, k) + CC(ic - 1, 1, k);
      const ti4 = CC(i - 1, 2, k) - CC(ic - 1, 1, k);
      ch[CHi(i - 1, k, 0)] = tr2 + tr3;
      const cr3 = tr2 - tr3;
      ch[CHi(i, k, 0)] = ti2 + ti3;
      const ci3 = ti2 - ti3;
      const cr4 = tr1 + tr4;
      const cr2 = tr1 - tr4;
      const ci2 = ti1 + ti4;
      const ci4 = ti1 - ti4;
      // MULPM(a, b, c, d, e, f): a = c*e + d*f; b = c*f - d*e
      let wr = wa[i - 2];
      let wi = wa[i - 1];
      ch[CHi(i, k, 1)] = wr * ci2 + wi * cr2;
      ch[CHi(i - 1, k, 1)] = wr * cr2 - wi * ci2;
      wr = wa[i - 2 + (ido - 1)];
      wi = wa[i - 1 + (ido - 1)];
      ch[CHi(i, k, 2)] = wr * ci3 + wi * cr3;
      ch[CHi(i - 1, k, 2)] = wr * cr3 - wi * ci3;
      wr = wa[i - 2 + 2 * (ido - 1)];
      wi = wa[i - 1 + 2 * (ido - 1)];
      ch[CHi(i, k, 3)] = wr * ci4 + wi * cr4;
      ch[CHi(i - 1, k, 3)] = wr * cr4 - wi * ci4;
    }
  }
}

/**
 * In-place unnormalised DCT-II of 32 float64 values, identical to
 * scipy.fftpack.dct(x) (type 2, norm=None) on the same values.
 * @param {Float64Array} c length 32, overwritten with the result
 * @param {Float64Array} [work] optional scratch of length 32
 */
export function dct2N32(c, work = new Float64Array(DCT_N)) {
  const N = DCT_N;
  const NS2 = N >> 1;
  // Pre-processing of T_dcst23::exec for type 2 (cosine, not orthonormal).
  c[0] *= 2;
  c[N - 1] *= 2; // N is even
  for (let k = 1; k < N - 1; k += 2) {
    const t = c[k + 1];
    c[k + 1] = t - c[k];
    c[k] = t + c[k];
  }
  // Backward real FFT (rfftp::exec with r2hc = false): factors 2, 4, 4 with l1 = 1, 2, 8.
  radb2(16, 1, c, work, TW_RADIX2);
  radb4(4, 2, work, c, TW_RADIX4);
  radb4(1, 8, c, work, TW_RADIX4 /* unused when ido = 1 */);
  // Three passes leave the result in the scratch buffer; pocketfft copies it back (fct = 1).
  for (let i = 0; i < N; i++) c[i] = work[i];
  // Post-processing twiddle step.
  for (let k = 1, kc = N - 1; k < NS2; k++, kc--) {
    const t1 = TW_DCT[k - 1] * c[kc] + TW_DCT[kc - 1] * c[k];
    const t2 = TW_DCT[k - 1] * c[k] - TW_DCT[kc - 1] * c[kc];
    c[k] = 0.5 * (t1 + t2);
    c[kc] = 0.5 * (t1 - t2);
  }
  c[NS2] *= TW_DCT[NS2 - 1];
  return c;
}

/**
 * scipy.fftpack.dct(scipy.fftpack.dct(x, axis=0), axis=1) for a 32x32 block, row-major.
 * Only the first `keepRows` rows of the result are computed (the others are left at 0):
 * phash needs the top-left 8x8 and each 1-D transform is independent, so the values that are
 * computed are exactly scipy's.
 * @param {ArrayLike<number>} input 1024 values, row-major (uint8 pixels in phash)
 * @param {number} [keepRows=32]
 * @returns {Float64Array} 1024 values, row-major
 */
export function dct2d32(input, keepRows = DCT_N) {
  const N = DCT_N;
  const out = new Float64Array(N * N);
  const line = new Float64Array(N);
  const work = new Float64Array(N);
  // axis 0: each column
  for (let j = 0; j < N; j++) {
    for (let i = 0; i < N; i++) line[i] = input[i * N + j];
    dct2N32(line, work);
    for (let i = 0; i < keepRows; i++) out[i * N + j] = line[i];
  }
  // axis 1: each (kept) row
  for (let i = 0; i < keepRows; i++) {
    for (let j = 0; j < N; j++) line[j] = out[i * N + j];
    dct2N32(line, work);
    for (let j = 0; j < N; j++) out[i * N + j] = line[j];
  }
  return out;
}
