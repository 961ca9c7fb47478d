// The WebAssembly SIMD engine (static/fingerprint/simd.js + kernels.wat) against the
// JavaScript engine, which the vectors tie to pdqhash and imagehash: identical results on
// images of every awkward shape (widths and heights around the 4- and 16-lane blocks, both
// Pillow pass orders, sizes where PDQ or the crops switch off), on content that makes ties
// (flat, checkerboard, two-tone) and on noise; a stale binary fails; without WebAssembly the
// default engine is the JavaScript one and gives the same fingerprints.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { fingerprintPixels, defaultEngine } from '../../static/fingerprint/pixels.js';
import { simdEngine, simdUnavailableReason } from '../../static/fingerprint/simd.js';
import { pillow13VerticalFirst } from '../../static/fingerprint/resize.js';
import { buildKernelsModule } from '../../tools/build-wasm.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

const PATTERNS = {
  noise: (r) => () => r() & 255,
  flat: () => () => 137,
  checker: () => (x, y) => ((x ^ y) & 1 ? 250 : 5),
  twotone: () => (x, y, w) => (x < w / 2 ? 30 : 220),
  photo: (r) => (x, y, w, h) => (Math.round(128 + 90 * Math.sin(x / (w / 7 + 1)) * Math.cos(y / (h / 5 + 1))) + (r() >>> 29)) & 255,
};

function image(width, height, pattern, seed) {
  const r = lcg(seed);
  const f = PATTERNS[pattern](r);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const v = f(x, y, width, height);
      data[i] = v;
      data[i + 1] = pattern === 'noise' ? r() & 255 : (v * 3 + y) & 255;
      data[i + 2] = pattern === 'noise' ? r() & 255 : (v + x) & 255;
      data[i + 3] = r() & 255; // alpha must be ignored by both engines
    }
  }
  return { width, height, data };
}

test('the WebAssembly engine runs here (Node 20 has SIMD)', () => {
  assert.ok(simdEngine(), `unavailable: ${simdUnavailableReason()}`);
  assert.equal(defaultEngine(), 'wasm');
});

test('kernels-wasm.js is exactly what kernels.wat assembles to', async () => {
  const committed = readFileSync(path.join(ROOT, 'static', 'fingerprint', 'kernels-wasm.js'), 'utf8');
  assert.equal(committed, await buildKernelsModule(), 'stale binary: run `make wasm`');
});

const SHAPES = [
  [1, 1], [2, 3], [4, 4], [3, 7], [5, 5], [6, 5], [7, 9], [8, 8], [9, 8], [15, 17], [16, 16], [17, 15],
  [31, 33], [32, 32], [33, 31], [63, 65], [64, 64], [65, 63], [66, 67], [67, 66], [100, 5], [5, 100],
  [127, 129], [129, 127], [255, 257], [257, 255], [333, 77], [77, 333], [500, 1], [1, 500], [2000, 3],
  [3, 2000], [1170, 2532], [30, 2000], [2000, 30], [641, 479],
];

test('both Pillow pass orders are among the shapes', () => {
  assert.ok(SHAPES.some(([w, h]) => pillow13VerticalFirst(w, h, 32, 32)));
  assert.ok(SHAPES.some(([w, h]) => w > 32 && !pillow13VerticalFirst(w, h, 32, 32)));
});

for (const [w, h] of SHAPES) {
  test(`engines agree on ${w}x${h}`, () => {
    const patterns = w * h > 200000 ? ['photo'] : Object.keys(PATTERNS);
    for (const pattern of patterns) {
      const img = image(w, h, pattern, w * 7919 + h * 31 + pattern.length);
      const js = fingerprintPixels(img, { engine: 'js' });
      const wasm = fingerprintPixels(img, { engine: 'wasm' });
      assert.deepEqual(wasm, js, `${pattern} ${w}x${h}`);
    }
  });
}

test('engines agree on 60 random sizes up to 700 px a side (seeded)', () => {
  const r = lcg(20261202);
  const patterns = Object.keys(PATTERNS);
  for (let i = 0; i < 60; i++) {
    // Half of them thin in one direction, so both Pillow pass orders and tiny PDQ windows come up.
    const long = 1 + (r() % 700);
    const short = 1 + (r() % (i % 2 ? 40 : 700));
    const [w, h] = r() & 1 ? [long, short] : [short, long];
    const pattern = patterns[r() % patterns.length];
    const img = image(w, h, pattern, r());
    assert.deepEqual(fingerprintPixels(img, { engine: 'wasm' }), fingerprintPixels(img, { engine: 'js' }), `${pattern} ${w}x${h}`);
  }
});

test('engines agree on a 12-megapixel photo-like image, crops included', () => {
  const img = image(4000, 3000, 'photo', 12);
  const js = fingerprintPixels(img, { engine: 'js' });
  const wasm = fingerprintPixels(img, { engine: 'wasm' });
  assert.equal(wasm.pdq_crops.length, 12);
  assert.deepEqual(wasm, js);
});

test('one engine instance serves images of different sizes in turn (memory reused)', () => {
  const sizes = [[900, 700], [40, 30], [1200, 1300], [64, 64], [900, 700]];
  const first = [];
  for (const [w, h] of sizes) {
    const img = image(w, h, 'photo', w + h);
    const r = fingerprintPixels(img, { engine: 'wasm' });
    assert.deepEqual(r, fingerprintPixels(img, { engine: 'js' }), `${w}x${h}`);
    first.push(r);
  }
  assert.deepEqual(first[4], first[0], 'the same image gives the same result after others');
});

test('unaligned pixel buffers and Uint8Array data work on the WebAssembly engine', () => {
  const img = image(101, 57, 'photo', 3);
  const bytes = new Uint8Array(img.data.length + 1);
  bytes.set(img.data, 1);
  const unaligned = { width: 101, height: 57, data: bytes.subarray(1) };
  assert.deepEqual(fingerprintPixels(unaligned, { engine: 'wasm' }), fingerprintPixels(img, { engine: 'js' }));
});

test('without WebAssembly the default engine is JavaScript, with the same fingerprints', () => {
  const script = `
    globalThis.WebAssembly = undefined;
    const { fingerprintPixels, defaultEngine } = await import(${JSON.stringify(path.join(ROOT, 'static/fingerprint/pixels.js'))});
    const { simdUnavailableReason } = await import(${JSON.stringify(path.join(ROOT, 'static/fingerprint/simd.js'))});
    const w = 97, h = 61, data = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761 >>> 24) & 255;
    let wasmError = null;
    try { fingerprintPixels({ width: w, height: h, data }, { engine: 'wasm' }); } catch (e) { wasmError = e.message; }
    console.log(JSON.stringify({ engine: defaultEngine(), reason: simdUnavailableReason(), wasmError,
      result: fingerprintPixels({ width: w, height: h, data }) }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const got = JSON.parse(out.stdout);
  assert.equal(got.engine, 'js');
  assert.match(got.reason, /no WebAssembly/);
  assert.match(got.wasmError, /unavailable/, 'asking for wasm by name fails loudly instead of falling back');
  const w = 97;
  const h = 61;
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) >>> 24) & 255;
  assert.deepEqual(got.result, fingerprintPixels({ width: w, height: h, data }, { engine: 'wasm' }));
});

test('an unknown engine name is refused', () => {
  assert.throws(() => fingerprintPixels(image(8, 8, 'flat', 1), { engine: 'gpu' }), /engine must be/);
});
