// The two building blocks of imagehash that must match Pillow and scipy byte for byte:
// Pillow 13's LANCZOS resize (resize.json) and scipy.fftpack's DCT-II (dct.json).
import test from 'node:test';
import assert from 'node:assert/strict';

import { loadVectors, unpack, unpackPixels } from './vector_helpers.mjs';
import { resizeGray, pillow13VerticalFirst, LanczosResizer, mergeResizeParts } from '../../static/fingerprint/resize.js';
import { dct2d32, dct2N32 } from '../../static/fingerprint/dct.js';

const resizeCases = loadVectors('resize.json').cases.map((c) => ({
  ...c,
  gray: unpackPixels(c.gray_sub_zlib_b64, c.width, c.height, 1),
  expectedPixels: unpack(c.expected_zlib_b64),
}));

function countDiff(a, b) {
  assert.equal(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

test('resize vectors exist in both pass orders', () => {
  assert.ok(resizeCases.length >= 20);
  assert.ok(resizeCases.some((c) => c.vertical_first));
  assert.ok(resizeCases.some((c) => !c.vertical_first));
});

for (const c of resizeCases) {
  test(`LANCZOS ${c.name} (${c.vertical_first ? 'vertical' : 'horizontal'} first)`, () => {
    assert.equal(pillow13VerticalFirst(c.width, c.height, c.out_width, c.out_height), c.vertical_first);
    const out = resizeGray(c.gray, c.width, c.height, c.out_width, c.out_height);
    assert.equal(countDiff(out, c.expectedPixels), 0);
    // Uint8Array and Float64Array rows give the same bytes.
    const asDoubles = resizeGray(Float64Array.from(c.gray), c.width, c.height, c.out_width, c.out_height);
    assert.equal(countDiff(asDoubles, c.expectedPixels), 0);
  });
}

test('the pass order matters: the other order breaks some vectors (so the tests can fail)', () => {
  let broken = 0;
  for (const c of resizeCases) {
    if (c.width === c.out_width || c.height === c.out_height) continue;
    const wrong = resizeGray(c.gray, c.width, c.height, c.out_width, c.out_height, { verticalFirst: !c.vertical_first });
    if (countDiff(wrong, c.expectedPixels) > 0) broken++;
  }
  assert.ok(broken >= 5, `only ${broken} cases notice the wrong order`);
});

test('row-split resizing merges to the exact result', () => {
  for (const c of resizeCases) {
    const cut = Math.floor(c.height / 2);
    const parts = [[0, cut], [cut, c.height]].map(([y0, y1]) => {
      const r = new LanczosResizer(c.width, c.height, c.out_width, c.out_height, { y0, y1 });
      r.pushRows(c.gray, y1 - y0, y0 * c.width);
      return r.partial();
    });
    const out = mergeResizeParts(parts, c.width, c.height, c.out_width, c.out_height);
    assert.equal(countDiff(out, c.expectedPixels), 0, c.name);
  }
});

const dctCases = loadVectors('dct.json').cases.map((c) => {
  const raw = unpack(c.expected_f64le_zlib_b64);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const expected = new Float64Array(1024);
  for (let i = 0; i < 1024; i++) expected[i] = view.getFloat64(i * 8, true);
  return { ...c, input: unpack(c.input_zlib_b64), expected };
});

for (const c of dctCases) {
  test(`DCT ${c.name}: all 1024 float64 outputs bit-identical to scipy.fftpack`, () => {
    const out = dct2d32(c.input);
    for (let i = 0; i < 1024; i++) {
      // Object.is also tells +0 from -0
      if (!Object.is(out[i], c.expected[i])) assert.fail(`index ${i}: ${out[i]} != ${c.expected[i]}`);
    }
  });
}

test('a plain cosine sum is NOT bit-identical on the tie cases (why dct.js ports pocketfft)', () => {
  const plain = (x) => {
    const out = new Float64Array(32);
    for (let k = 0; k < 32; k++) {
      let s = 0;
      for (let n = 0; n < 32; n++) s += x[n] * Math.cos((Math.PI * k * (2 * n + 1)) / 64);
      out[k] = 2 * s;
    }
    return out;
  };
  let differing = 0;
  for (const c of dctCases) {
    const col = new Float64Array(32);
    for (let i = 0; i < 32; i++) col[i] = c.input[i * 32];
    const a = dct2N32(Float64Array.from(col));
    const b = plain(col);
    for (let i = 0; i < 32; i++) if (a[i] !== b[i]) { differing++; break; }
  }
  assert.ok(differing > 0);
});
