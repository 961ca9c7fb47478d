// Makes static/fingerprint/vendor/libheif/ from the pinned npm package libheif-js 1.23.2
// (libheif 1.23 and libde265 compiled to WebAssembly by Emscripten; LGPL-3.0), the HEIC decoder
// the fingerprint worker loads only when a HEIC/HEIF file is chosen (static/fingerprint/heic.js).
//
//   node tools/vendor-libheif.mjs            write the vendored files
//   node tools/vendor-libheif.mjs --check    exit 1 if the committed files are not what this makes
//
// One change to the upstream binary, four bytes: libheif's libde265 plugin, when compiled with
// Emscripten, switches off the HEVC deblocking filter and SAO "to speed up decoding from
// JavaScript" (decoder_libde265.cc: de265_set_parameter_bool(ctx,
// DE265_DECODER_PARAM_DISABLE_DEBLOCKING, 1) and the same for DISABLE_SAO). Those two in-loop
// filters are part of HEVC decoding: without them the pixels differ from every other decoder's,
// pillow-heif's (what platforms use) included, and so would the fingerprints. The plugin makes
// the two calls in each of its two decoder constructors; the `i32.const 1` argument of each of
// the four calls becomes `i32.const 0`. Nothing else is touched, and the input and output
// binaries are pinned by SHA-256, so a different package cannot slip through.
//
// What is written:
//   libheif.js       the package's Emscripten glue, unchanged, with one line added at the end
//                    (`export default libheif;`) so that a module worker can import it;
//   libheif-wasm.js  the patched binary as base64 (the worker may make no request, so the
//                    binary cannot be fetched: it arrives as a script, like kernels-wasm.js);
//   LICENSE          the package's licence texts (libheif's and libde265's LGPL-3.0 among them).
// LGPL: the library stays a separate file that anyone can replace with their own build (run
// this tool on another libheif-js, with the pins changed, or write libheif-wasm.js by hand).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = path.join(ROOT, 'node_modules', 'libheif-js');
export const OUT_DIR = path.join(ROOT, 'static', 'fingerprint', 'vendor', 'libheif');

export const UPSTREAM = {
  version: '1.23.2',
  glueSha256: 'f148d9ff173e5a6d6781e80dccb8336f54bfbb032392ceb2d37e0e92923c4bf3',
  wasmSha256: 'e4aa8333fbe55ec7c6c776f735236f40bed9103188498f8131d4e52b73cdfee8',
};
export const PATCHED_WASM_SHA256 = '2a29786c86892aca8c7e0732a55495da34521e65ac7250b5a9834d48d36314a6';

// libde265's enum de265_param: DISABLE_DEBLOCKING = 7, DISABLE_SAO = 8.
const DISABLE_DEBLOCKING = 7;
const DISABLE_SAO = 8;
const I32_CONST = 0x41;
const CALL = 0x10;

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The unsigned LEB128 at `o`: [value, length]. */
function leb(b, o) {
  let value = 0;
  let shift = 0;
  let n = 0;
  for (;;) {
    const byte = b[o + n++];
    value |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [value >>> 0, n];
    shift += 7;
  }
}

/**
 * The offsets of the `1` bytes to clear: each `i32.const 7; i32.const 1; call F` directly
 * followed by `<ctx>; i32.const 8; i32.const 1; call F` (the same F). The ctx argument between
 * them is a few bytes (local.get, maybe a load), so the second call is looked for close by.
 */
export function findFilterSwitches(wasm) {
  const sites = [];
  for (let i = 0; i + 6 < wasm.length; i++) {
    if (!(wasm[i] === I32_CONST && wasm[i + 1] === DISABLE_DEBLOCKING && wasm[i + 2] === I32_CONST && wasm[i + 3] === 1 && wasm[i + 4] === CALL)) continue;
    const [fn, n] = leb(wasm, i + 5);
    const after = i + 5 + n;
    for (let j = after; j < after + 8 && j + 6 < wasm.length; j++) {
      if (wasm[j] === I32_CONST && wasm[j + 1] === DISABLE_SAO && wasm[j + 2] === I32_CONST && wasm[j + 3] === 1 && wasm[j + 4] === CALL && leb(wasm, j + 5)[0] === fn) {
        sites.push(i + 3, j + 3);
        break;
      }
    }
  }
  return sites;
}

/** The patched binary (a copy), or an error saying why the input is not the pinned one. */
export function patchWasm(upstream) {
  if (sha256(upstream) !== UPSTREAM.wasmSha256) throw new Error(`libheif.wasm is not libheif-js ${UPSTREAM.version}'s (SHA-256 ${sha256(upstream)})`);
  const wasm = Uint8Array.from(upstream);
  const sites = findFilterSwitches(wasm);
  if (sites.length !== 4) throw new Error(`expected the deblocking and SAO switches in 2 decoder constructors, found ${sites.length / 2}`);
  for (const o of sites) wasm[o] = 0;
  if (sha256(wasm) !== PATCHED_WASM_SHA256) throw new Error(`the patched binary's SHA-256 is ${sha256(wasm)}`);
  return wasm;
}

/** {name: text} of the vendored files, made from the installed package. */
export function vendoredFiles() {
  const dir = path.join(PACKAGE, 'libheif-wasm');
  const version = JSON.parse(readFileSync(path.join(PACKAGE, 'package.json'), 'utf8')).version;
  if (version !== UPSTREAM.version) throw new Error(`node_modules has libheif-js ${version}, not ${UPSTREAM.version}`);
  const glue = readFileSync(path.join(dir, 'libheif.js'), 'utf8');
  if (sha256(Buffer.from(glue, 'utf8')) !== UPSTREAM.glueSha256) throw new Error('libheif.js is not the pinned one');
  const wasm = patchWasm(readFileSync(path.join(dir, 'libheif.wasm')));
  const header = (what) => `// GENERATED by tools/vendor-libheif.mjs from the npm package libheif-js ${UPSTREAM.version} (LGPL-3.0, see LICENSE): ${what}\n`;
  return {
    'libheif.js': `${header('its Emscripten glue, unchanged but for the export on the last line.')}${glue.trimEnd()}\nexport default libheif;\n`,
    'libheif-wasm.js': `${header(`its libheif.wasm with the 4-byte change the tool describes (HEVC deblocking and SAO switched back on), ${wasm.length} bytes, SHA-256 ${PATCHED_WASM_SHA256}, as base64.`)}export const LIBHEIF_WASM_SHA256 = '${PATCHED_WASM_SHA256}';\nexport const LIBHEIF_WASM_BASE64 = '${Buffer.from(wasm).toString('base64')}';\n`,
    LICENSE: readFileSync(path.join(dir, 'LICENSE'), 'utf8'),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = vendoredFiles();
  if (process.argv.includes('--check')) {
    const stale = Object.entries(files).filter(([name, text]) => {
      try {
        return readFileSync(path.join(OUT_DIR, name), 'utf8') !== text;
      } catch {
        return true;
      }
    });
    if (stale.length) {
      console.error(`stale: ${stale.map(([n]) => n).join(', ')} (run node tools/vendor-libheif.mjs)`);
      process.exit(1);
    }
  } else {
    mkdirSync(OUT_DIR, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(OUT_DIR, name), text);
  }
}
