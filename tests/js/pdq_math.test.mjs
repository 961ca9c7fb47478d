// Unit checks of the PDQ building blocks that the vectors exercise only indirectly.
import test from 'node:test';
import assert from 'node:assert/strict';

import { box1D, torben, jaroszWindow, samplePositions, dihedralDcts, pdqHexFromDct } from '../../static/fingerprint/pdq.js';

const f32 = Math.fround;

test('x * (1/n) rounded to float32 equals float32 x / n (the box filter shortcut)', () => {
  // Random float32 values in PDQ's range (0 .. 255 * window), windows up to 2000.
  const buf = new Float32Array(1);
  const bits = new Uint32Array(buf.buffer);
  let s = 12345;
  let checked = 0;
  for (let n = 1; n <= 2000; n += n < 64 ? 1 : 37) {
    const r = 1 / n;
    for (let i = 0; i < 20000; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      // exponents 2^-40 .. 2^19, any significand
      bits[0] = (s & 0x007fffff) | ((87 + ((s >>> 23) % 60)) << 23);
      const x = buf[0];
      if (f32(x * r) !== f32(x / n)) assert.fail(`x=${x} n=${n}`);
      checked++;
    }
  }
  assert.ok(checked > 1e6);
});

test('box1D is the float32 running sum of pdq/cpp, window 1 included', () => {
  // Reference written the slow, literal way: every operation through Math.fround and a
  // true division.
  function reference(inp, win) {
    const len = inp.length;
    const out = new Float32Array(len);
    const half = Math.floor((win + 2) / 2);
    let sum = 0;
    let cur = 0;
    let li = 0;
    let ri = 0;
    let oi = 0;
    for (let i = 0; i < half - 1; i++) { sum = f32(sum + inp[ri++]); cur++; }
    for (let i = 0; i < win - half + 1; i++) { sum = f32(sum + inp[ri++]); cur++; out[oi++] = f32(sum / cur); }
    for (let i = 0; i < len - win; i++) { sum = f32(sum + inp[ri++]); sum = f32(sum - inp[li++]); out[oi++] = f32(sum / cur); }
    for (let i = 0; i < half - 1; i++) { sum = f32(sum - inp[li++]); cur--; out[oi++] = f32(sum / cur); }
    return out;
  }
  let s = 1;
  for (const len of [1, 5, 7, 64, 129, 1000]) {
    for (const win of [1, 2, 3, 4, 7, 8, 31].filter((w) => w <= len)) {
      const inp = new Float32Array(len);
      for (let i = 0; i < len; i++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        inp[i] = f32((s >>> 8) % 256 * 0.299 + (s & 255) * 0.114);
      }
      const out = new Float32Array(len);
      box1D(inp, 0, out, 0, len, win);
      assert.deepEqual(out, reference(inp, win), `len ${len} win ${win}`);
    }
  }
  // window 1 is not an identity in float32
  const inp = Float32Array.from([0.1, 1e7, 0.3, 0.7, 2.5]);
  const out = new Float32Array(5);
  box1D(inp, 0, out, 0, 5, 1);
  assert.notDeepEqual(out, inp);
});

test('Jarosz window and sample positions follow pdq/cpp', () => {
  assert.equal(jaroszWindow(64), 1);
  assert.equal(jaroszWindow(128), 1);
  assert.equal(jaroszWindow(129), 2);
  assert.equal(jaroszWindow(4000), 32);
  assert.equal(jaroszWindow(3000), 24);
  assert.deepEqual(Array.from(samplePositions(64)), Array.from({ length: 64 }, (_, i) => i));
  assert.equal(samplePositions(5)[63], 4);
  assert.equal(samplePositions(640)[0], 5);
});

test('Torben median: exact on odd/even counts and ties, float32 guesses', () => {
  const sortedMedianLow = (arr) => Float32Array.from(arr).sort()[Math.floor((arr.length - 1) / 2)];
  let s = 9;
  for (let t = 0; t < 200; t++) {
    const n = 1 + (t % 40);
    const m = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 69069) + 1) >>> 0;
      m[i] = t % 3 === 0 ? (s >>> 29) : f32((s / 4294967296) * 1000 - 500);
    }
    const med = torben(m);
    // Torben returns an element of the array: the lower median for even n
    assert.ok(m.includes(med));
    assert.equal(med, sortedMedianLow(m), `n=${n}`);
  }
});

test('dihedral DCT transforms: rot90 four times is the identity, flips are involutions', () => {
  const A = new Float32Array(256);
  for (let i = 0; i < 256; i++) A[i] = f32(Math.sin(i * 1.7) * 100);
  const [orig, rot90, rot180, , flipX, flipY, flipPlus1, flipMinus1] = dihedralDcts(A);
  assert.deepEqual(orig, A);
  let r = A;
  for (let k = 0; k < 4; k++) r = dihedralDcts(r)[1];
  assert.deepEqual(r, A);
  assert.deepEqual(dihedralDcts(rot90)[1], rot180);
  for (const [idx, B] of [[4, flipX], [5, flipY], [6, flipPlus1], [7, flipMinus1]]) {
    assert.deepEqual(dihedralDcts(B)[idx], A, `variant ${idx} twice`);
  }
  assert.match(pdqHexFromDct(A), /^[0-9a-f]{64}$/);
});
