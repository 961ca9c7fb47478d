// Decodes HEIC files with the worker's own code (decode.js -> heic.js -> the vendored
// libheif) in Node, for tests/test_heic_decoder.py, which compares the pixels with
// pillow-heif's. Usage: node tests/heic_decode.mjs [--upstream] FILE OUT
//   writes the RGBA pixels to OUT and prints {width, height, exact, warnings, decoder};
//   --upstream: libheif-js's own binary, unpatched (HEVC deblocking and SAO off), to show
//   that the patch is what makes the pixels agree.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The Emscripten glue takes Node for what it is and asks for these CommonJS names.
globalThis.require = createRequire(import.meta.url);
globalThis.__dirname = path.dirname(fileURLToPath(import.meta.url));

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const upstream = args[0] === '--upstream';
const [file, out] = upstream ? args.slice(1) : args;
const bytes = new Uint8Array(readFileSync(file));
try {
  let result;
  if (upstream) {
    const { decodeHeic, startLibheif } = await import(path.join(ROOT, 'static/fingerprint/heic.js'));
    const { default: factory } = await import(path.join(ROOT, 'static/fingerprint/vendor/libheif/libheif.js'));
    const lib = await startLibheif(factory, readFileSync(path.join(ROOT, 'node_modules/libheif-js/libheif-wasm/libheif.wasm')));
    const r = await decodeHeic(bytes, { maxPixels: 1e8, lib });
    result = { ...r, exact: null, warnings: [], decoder: 'libheif-upstream' };
  } else {
    const { decodeImage } = await import(path.join(ROOT, 'static/fingerprint/decode.js'));
    result = await decodeImage(bytes);
  }
  writeFileSync(out, result.data);
  console.log(JSON.stringify({ width: result.width, height: result.height, exact: result.exact, warnings: result.warnings, decoder: result.decoder }));
} catch (e) {
  console.log(JSON.stringify({ error: e.code || e.name, message: e.message, detail: e.detail || null }));
}
