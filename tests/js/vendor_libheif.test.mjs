// The vendored HEIC decoder is exactly what tools/vendor-libheif.mjs makes from the pinned npm
// package (libheif-js 1.23.2): the glue unchanged but for its export, the binary with only
// the four filter switches changed. And heifTransformed (decode.js) on crafted headers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { heifTransformed } from '../../static/fingerprint/decode.js';
import { findFilterSwitches, OUT_DIR, patchWasm, vendoredFiles } from '../../tools/vendor-libheif.mjs';

const upstreamWasm = () => readFileSync(path.resolve(OUT_DIR, '../../../../node_modules/libheif-js/libheif-wasm/libheif.wasm'));

test('the committed vendor files are what the tool makes from the pinned package', () => {
  for (const [name, text] of Object.entries(vendoredFiles())) {
    assert.equal(readFileSync(path.join(OUT_DIR, name), 'utf8'), text, `${name} is stale: run node tools/vendor-libheif.mjs`);
  }
});

test('the patch changes four bytes, each a 1 to a 0 at a deblocking or SAO switch', () => {
  const upstream = upstreamWasm();
  const sites = findFilterSwitches(upstream);
  assert.equal(sites.length, 4);
  const patched = patchWasm(upstream);
  const changed = [];
  for (let i = 0; i < upstream.length; i++) if (upstream[i] !== patched[i]) changed.push(i);
  assert.deepEqual(changed, sites);
  for (const o of sites) {
    assert.equal(upstream[o], 1);
    assert.equal(patched[o], 0);
    assert.ok([7, 8].includes(upstream[o - 2]), 'the parameter is DISABLE_DEBLOCKING (7) or DISABLE_SAO (8)');
  }
  // The patched binary has no switch left to find, and any other binary is refused.
  assert.equal(findFilterSwitches(patched).length, 0);
  assert.throws(() => patchWasm(patched), /not libheif-js/);
});

function box(type, body) {
  const b = new Uint8Array(8 + body.length);
  new DataView(b.buffer).setUint32(0, b.length);
  for (let i = 0; i < 4; i++) b[4 + i] = type.charCodeAt(i);
  b.set(body, 8);
  return b;
}
const cat = (...parts) => Uint8Array.from(parts.flatMap((p) => [...p]));
const ascii = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));

test('heifTransformed finds irot/imir in the meta box only, and claims nothing of a broken header', () => {
  const ftyp = box('ftyp', ascii('heic\0\0\0\0mif1heic'));
  assert.equal(heifTransformed(cat(ftyp, box('meta', cat(box('irot', [1]))))), true);
  assert.equal(heifTransformed(cat(ftyp, box('meta', cat(box('imir', [0]))))), true);
  assert.equal(heifTransformed(cat(ftyp, box('meta', cat(box('ispe', [0, 0, 0, 0]))), box('mdat', ascii('irot')))), false);
  assert.equal(heifTransformed(cat(ftyp, Uint8Array.of(0, 0, 0, 3, 0x6d, 0x65, 0x74, 0x61))), true); // size below 8
  assert.equal(heifTransformed(ftyp), true); // no meta box at all
});
