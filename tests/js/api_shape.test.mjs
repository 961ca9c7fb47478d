// The shape of the public API that index.js and the Web Worker build on.
import test from 'node:test';
import assert from 'node:assert/strict';

import * as pixels from '../../static/fingerprint/pixels.js';
import { MD5 } from '../../static/fingerprint/md5.js';
import { SHA256 } from '../../static/fingerprint/sha256.js';

const { fingerprintPixels } = pixels;

function synthetic(width, height, seed = 1) {
  const data = new Uint8ClampedArray(width * height * 4);
  let s = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const i = (y * width + x) * 4;
      data[i] = (x * 7 + (s & 15)) & 255;
      data[i + 1] = (y * 3 + ((s >>> 4) & 31)) & 255;
      data[i + 2] = ((x ^ y) + ((s >>> 9) & 7)) & 255;
      data[i + 3] = (s >>> 24) & 255;
    }
  }
  return { width, height, data };
}

test('module exports stay stable', () => {
  for (const name of ['fingerprintPixels', 'pdqFromPixels', 'imagehashFromPixels', 'imagehashPartFromPixels',
    'imagehashFromParts', 'grayFromPixels', 'imagehashFromGray', 'imagehashPartFromGray']) {
    assert.equal(typeof pixels[name], 'function', name);
  }
  assert.equal(typeof MD5, 'function');
  assert.equal(typeof SHA256, 'function');
});

test('fingerprintPixels returns the documented shape', () => {
  const r = fingerprintPixels(synthetic(120, 90));
  assert.deepEqual(Object.keys(r).sort(),
    ['ahash', 'dhash', 'height', 'pdq', 'pdq_crops', 'pdq_dihedral', 'pdq_quality', 'phash', 'warnings', 'width'].sort());
  const centre = r.pdq_crops.filter((c) => 'crop' in c);
  const sided = r.pdq_crops.filter((c) => 'side' in c);
  assert.deepEqual(centre.map((c) => c.crop), [0.95, 0.925, 0.9, 0.8]);
  assert.deepEqual(sided.map((c) => `${c.side} ${c.cut}`), ['left 0.1', 'right 0.1', 'top 0.1', 'bottom 0.1',
    'left 0.2', 'right 0.2', 'top 0.2', 'bottom 0.2']);
  for (const c of sided) assert.match(c.mirror, /^[0-9a-f]{64}$/);
  for (const c of r.pdq_crops) {
    assert.match(c.pdq, /^[0-9a-f]{64}$/);
    assert.ok(Number.isInteger(c.quality) && c.quality >= 0 && c.quality <= 100);
  }
  assert.match(r.pdq, /^[0-9a-f]{64}$/);
  assert.ok(Number.isInteger(r.pdq_quality) && r.pdq_quality >= 0 && r.pdq_quality <= 100);
  assert.ok(Array.isArray(r.pdq_dihedral) && r.pdq_dihedral.length === 8);
  for (const h of r.pdq_dihedral) assert.match(h, /^[0-9a-f]{64}$/);
  assert.equal(r.pdq_dihedral[0], r.pdq);
  for (const k of ['phash', 'dhash', 'ahash']) assert.match(r[k], /^[0-9a-f]{16}$/);
  assert.equal(r.width, 120);
  assert.equal(r.height, 90);
  assert.ok(Array.isArray(r.warnings));
  for (const w of r.warnings) assert.equal(typeof w, 'string');
  // the result is plain data (structured-cloneable for postMessage)
  assert.deepEqual(structuredClone(r), r);
});

test('different images give different fingerprints; same pixels the same', () => {
  const a = fingerprintPixels(synthetic(100, 100, 1));
  const b = fingerprintPixels(synthetic(100, 100, 2));
  const a2 = fingerprintPixels(synthetic(100, 100, 1));
  assert.deepEqual(a, a2);
  assert.notEqual(a.pdq, b.pdq);
});

test('warnings: tiny images, low quality, exactly 64x64', () => {
  const tiny = fingerprintPixels(synthetic(4, 30));
  assert.equal(tiny.pdq, '0'.repeat(64));
  assert.equal(tiny.pdq_quality, 0);
  assert.ok(tiny.warnings.some((w) => /at least 5x5/.test(w)));
  const flat = { width: 50, height: 50, data: new Uint8ClampedArray(50 * 50 * 4).fill(128) };
  assert.ok(fingerprintPixels(flat).warnings.some((w) => /quality 0 is below 50/.test(w)));
  assert.ok(fingerprintPixels(synthetic(64, 64)).warnings.some((w) => /64x64/.test(w)));
});

test('imagehash signals can be computed alone, with the same values', () => {
  const img = synthetic(150, 110, 5);
  const all = pixels.imagehashFromPixels(img);
  for (const name of pixels.IMAGEHASH_SIGNALS) {
    const one = pixels.imagehashFromPixels(img, { signals: [name] });
    assert.equal(one[name], all[name]);
    for (const other of pixels.IMAGEHASH_SIGNALS.filter((n) => n !== name)) assert.equal(one[other], undefined);
  }
  assert.throws(() => pixels.imagehashFromPixels(img, { signals: ['md5'] }), RangeError);
  assert.throws(() => pixels.imagehashFromPixels(img, { signals: [] }), RangeError);
});

test('bad input is refused with a clear error', () => {
  assert.throws(() => fingerprintPixels(null), TypeError);
  assert.throws(() => fingerprintPixels({ width: 0, height: 5, data: new Uint8Array(0) }), RangeError);
  assert.throws(() => fingerprintPixels({ width: 2, height: 2, data: new Uint8Array(15) }), /expected 16/);
  assert.throws(() => fingerprintPixels({ width: 2, height: 2, data: new Float32Array(16) }), TypeError);
  assert.throws(() => fingerprintPixels({ width: 2, height: 2, data: [1, 2, 3] }), TypeError);
  assert.throws(() => pixels.imagehashPartFromPixels(synthetic(10, 10), 5, 11), RangeError);
  const p1 = pixels.imagehashPartFromPixels(synthetic(10, 10), 0, 4);
  const p3 = pixels.imagehashPartFromPixels(synthetic(10, 10), 5, 10);
  assert.throws(() => pixels.imagehashFromParts([p1, p3]), /tile/);
});
