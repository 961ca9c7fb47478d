// Every committed vector (expected values from pdqhash / imagehash, see
// tests/vectors/make_vectors.py) must come out bit-identical from our JavaScript, through every
// entry point of static/fingerprint/pixels.js.
import test from 'node:test';
import assert from 'node:assert/strict';

import { loadVectors, unpackPixels } from './vector_helpers.mjs';
import {
  fingerprintPixels,
  pdqFromPixels,
  imagehashFromPixels,
  imagehashPartFromPixels,
  imagehashFromParts,
  grayFromPixels,
  imagehashFromGray,
  imagehashPartFromGray,
  fingerprintPartFromPixels,
  fingerprintFromParts,
} from '../../static/fingerprint/pixels.js';

const vectors = loadVectors('fingerprints.json');
const cases = vectors.cases.map((c) => ({
  ...c,
  data: unpackPixels(c.rgba_sub_zlib_b64, c.width, c.height, 4),
}));

test('the vector file covers what the issue asks for', () => {
  const names = cases.map((c) => c.name);
  assert.ok(cases.length >= 60, `only ${cases.length} cases`);
  const has = (re) => names.some((n) => re.test(n));
  for (const re of [/^tiny_1x1/, /^tiny_4x4/, /^tiny_3x7/, /^exact_64_/, /^exact_32_/, /^aspect_2000x3/,
    /^aspect_3x2000/, /flat/, /twotone/, /checker/, /noise/, /gradient/, /alpha/, /transparent/, /^mid_/]) {
    assert.ok(has(re), `no case matching ${re}`);
  }
  // Both LANCZOS pass orders of Pillow 13 are exercised, for each imagehash.
  for (const h of ['phash', 'dhash', 'ahash']) {
    assert.ok(cases.some((c) => c.pillow13_vertical_first[h]), `no vertical-first ${h} case`);
    assert.ok(cases.some((c) => !c.pillow13_vertical_first[h] && c.width > 64), `no horizontal-first ${h} case`);
  }
  // Jarosz windows above 1 in both directions.
  assert.ok(cases.some((c) => c.width > 256 && c.height > 256));
  // Alpha cases really contain fully transparent pixels whose stored RGB is not zero.
  const alpha = cases.filter((c) => /alpha|transparent/.test(c.name));
  assert.ok(alpha.length >= 3);
  for (const c of alpha) {
    let found = false;
    for (let i = 0; i < c.data.length; i += 4) {
      if (c.data[i + 3] === 0 && (c.data[i] | c.data[i + 1] | c.data[i + 2]) !== 0) { found = true; break; }
    }
    assert.ok(found, `${c.name} has no transparent pixel with colour`);
  }
});

// Both engines, each asked for by name (no silent fallback): the WebAssembly SIMD one the
// browser uses, and the JavaScript one it falls back to (simd.js explains when).
for (const engine of ['wasm', 'js']) {
  for (const c of cases) {
    test(`vector ${c.name} (${c.width}x${c.height}), ${engine} engine`, () => {
      const e = c.expected;
      const r = fingerprintPixels({ width: c.width, height: c.height, data: c.data }, { engine });
      assert.equal(r.pdq, e.pdq, 'pdq');
      assert.equal(r.pdq_quality, e.pdq_quality, 'pdq_quality');
      assert.deepEqual(r.pdq_dihedral, e.pdq_dihedral, 'pdq_dihedral (compute_dihedral order)');
      assert.equal(r.phash, e.phash, 'phash');
      assert.equal(r.dhash, e.dhash, 'dhash');
      assert.equal(r.ahash, e.ahash, 'ahash');
      assert.equal(r.width, c.width);
      assert.equal(r.height, c.height);
    });
  }
}

test('split entry points agree with fingerprintPixels on every vector', () => {
  for (const c of cases) {
    const image = { width: c.width, height: c.height, data: c.data };
    const e = c.expected;
    const p = pdqFromPixels(image);
    assert.equal(p.pdq, e.pdq, c.name);
    assert.equal(p.pdq_quality, e.pdq_quality, c.name);
    assert.deepEqual(p.pdq_dihedral, e.pdq_dihedral, c.name);
    const ih = imagehashFromPixels(image);
    assert.deepEqual([ih.phash, ih.dhash, ih.ahash], [e.phash, e.dhash, e.ahash], c.name);
    const g = imagehashFromGray({ width: c.width, height: c.height, gray: grayFromPixels(image) });
    assert.deepEqual([g.phash, g.dhash, g.ahash], [e.phash, e.dhash, e.ahash], c.name);
    // Row-split imagehash: whole-image data and sliced data, uneven split points.
    const H = c.height;
    const cuts = [...new Set([0, Math.floor(H / 3), Math.floor((2 * H) / 3) + 1, H].map((v) => Math.min(H, v)))];
    const parts = [];
    for (let k = 0; k + 1 < cuts.length; k++) {
      const [y0, y1] = [cuts[k], cuts[k + 1]];
      const slice = k % 2 === 0
        ? image
        : { width: c.width, height: H, data: c.data.slice(y0 * c.width * 4, y1 * c.width * 4) };
      parts.push(imagehashPartFromPixels(slice, y0, y1));
    }
    const merged = imagehashFromParts(parts.reverse());
    assert.deepEqual([merged.phash, merged.dhash, merged.ahash], [e.phash, e.dhash, e.ahash], `${c.name} split`);
    // The same split from grey slices (what a second worker would receive), mixed with RGBA parts.
    const cut = Math.floor(H / 2);
    const grayParts = [
      imagehashPartFromGray({ width: c.width, height: H, gray: grayFromPixels(image, 0, cut) }, 0, cut),
      imagehashPartFromPixels(image, cut, H),
    ];
    const g2 = imagehashFromParts(grayParts);
    assert.deepEqual([g2.phash, g2.dhash, g2.ahash], [e.phash, e.dhash, e.ahash], `${c.name} grey split`);
  }
});

test('the two-worker split (worker.js + helper.js) is bit-identical at every kind of split row', () => {
  for (const c of cases) {
    const image = { width: c.width, height: c.height, data: c.data };
    const whole = fingerprintPixels(image);
    const H = c.height;
    for (const split of new Set([0, 1, Math.round(H * 0.2), H - 1, H].filter((v) => v >= 0 && v <= H))) {
      // What crosses between the workers goes through structuredClone, as postMessage does.
      const first = structuredClone(fingerprintPartFromPixels(image, split));
      const others = split < H
        ? [structuredClone(imagehashPartFromGray({ width: c.width, height: H, gray: grayFromPixels(image, split, H) }, split, H))]
        : [];
      assert.deepEqual(fingerprintFromParts(first, others), whole, `${c.name} split at ${split}`);
      assert.equal(whole.pdq, c.expected.pdq);
      assert.equal(whole.phash, c.expected.phash);
    }
  }
  assert.throws(() => fingerprintPartFromPixels({ width: 4, height: 4, data: new Uint8Array(64) }, 5), RangeError);
});

test('unaligned and Uint8ClampedArray pixel buffers give the same result', () => {
  for (const c of cases.filter((x) => /^(mid_|near_|exact_64_noise|order_100x169)/.test(x.name))) {
    const backing = new Uint8Array(c.data.length + 3);
    backing.set(c.data, 1);
    const unaligned = backing.subarray(1, 1 + c.data.length);
    assert.notEqual(unaligned.byteOffset % 4, 0);
    const r1 = fingerprintPixels({ width: c.width, height: c.height, data: unaligned });
    const r2 = fingerprintPixels({ width: c.width, height: c.height, data: new Uint8ClampedArray(c.data) });
    for (const r of [r1, r2]) {
      assert.equal(r.pdq, c.expected.pdq, c.name);
      assert.equal(r.pdq_quality, c.expected.pdq_quality, c.name);
      assert.equal(r.phash, c.expected.phash, c.name);
      assert.equal(r.dhash, c.expected.dhash, c.name);
      assert.equal(r.ahash, c.expected.ahash, c.name);
    }
  }
});

test('alpha is ignored, as in the references: changing only alpha changes nothing', () => {
  const c = cases.find((x) => x.name === 'mid_480x640_alpha_shapes');
  const opaque = new Uint8Array(c.data);
  for (let i = 3; i < opaque.length; i += 4) opaque[i] = 255;
  const r = fingerprintPixels({ width: c.width, height: c.height, data: opaque });
  assert.equal(r.pdq, c.expected.pdq);
  assert.equal(r.phash, c.expected.phash);
  assert.equal(r.dhash, c.expected.dhash);
  assert.equal(r.ahash, c.expected.ahash);
});
