// HEIC/HEIF (iPhones' photos) decoded in the worker to the pixels pillow-heif gives, which is
// what platforms hash (hashbank/fingerprints/images.py registers pillow-heif's opener in the
// reference hashers and the platform tools). The decoder is libheif with libde265, the very
// library pillow-heif wraps, compiled to WebAssembly (npm libheif-js 1.23.2, vendored by
// tools/vendor-libheif.mjs with its HEVC in-loop filters switched back on: see there). It is
// loaded only when such a file is chosen: about 1.9 MB (670 kB compressed) of script that no
// one else downloads. It makes no request: the binary arrives inside a module, and the
// worker's policy (connect-src 'none') would refuse one anyway.
//
// What pillow-heif does, and so what this does:
//   * the primary image, decoded with libheif's default options: the file's own rotation and
//     mirror (irot, imir: how HEIF stores a phone's orientation) applied, no colour profile
//     applied, 10-bit and 12-bit images converted to 8 bits by libheif;
//   * interleaved RGB, or RGBA when the image has an alpha channel (not premultiplied);
//   * a grey (monochrome) image without alpha as its one plane ('L'), which the references
//     then replicate to RGB as Pillow's convert('RGB') does.
// Tests: tests/test_heic_browser_decoder.py (Node, against pillow-heif) and the three-browser
// conformance suite (tests/browser/test_fingerprint_browsers.py).
'use strict';

let ready = null;

/** The libheif module, compiled and started once per worker. */
export function loadLibheif() {
  if (!ready) {
    ready = (async () => {
      // new URL(..., import.meta.url): the static storage rewrites these to this release's
      // hashed files (portal/storage.py), as for the worker scripts.
      const glueUrl = new URL('./vendor/libheif/libheif.js', import.meta.url);
      const wasmUrl = new URL('./vendor/libheif/libheif-wasm.js', import.meta.url);
      const [{ default: factory }, { LIBHEIF_WASM_BASE64 }] = await Promise.all([import(glueUrl.href), import(wasmUrl.href)]);
      return startLibheif(factory, fromBase64(LIBHEIF_WASM_BASE64));
    })();
    ready.catch(() => {
      ready = null; // a failed start (out of memory, say) may be tried again with the next file
    });
  }
  return ready;
}

/** libheif started from its glue's factory and a binary (the tests also start the upstream one). */
export async function startLibheif(factory, wasm) {
  const compiled = await WebAssembly.compile(wasm);
  let started = false;
  let failed = null;
  const module = factory({
    // Instantiated here, synchronously, from the module compiled above (asynchronously, so
    // the worker is not blocked by the compilation): the glue would otherwise fetch
    // libheif.wasm, and libheif-js's own start-up code (the enum names it copies onto the
    // module once the factory returns) expects the instance to exist by then.
    instantiateWasm(imports, done) {
      const instance = new WebAssembly.Instance(compiled, imports);
      done(instance);
      return instance.exports;
    },
    onRuntimeInitialized: () => {
      started = true;
    },
    onAbort: (what) => {
      failed = new Error(`libheif stopped: ${what}`);
    },
    print: () => {},
    printErr: () => {},
  });
  if (failed) throw failed;
  if (!started) throw new Error('libheif did not start');
  return module;
}

function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A HEIF that libheif refuses, with libheif's own words (shown as "damaged"). */
export class HeicError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'HeicError';
    if (code) this.code = code;
  }
}

function check(lib, err, what) {
  if (err && err.code !== undefined && err.code !== lib.heif_error_code.heif_error_Ok) {
    throw new HeicError(`${what}: ${err.message || `libheif error ${err.code}`}`);
  }
}

/**
 * Decode a HEIC/HEIF file: {width, height, data (RGBA, Uint8ClampedArray), alpha, grey}.
 * `maxPixels` is checked on the header's size before anything is decoded.
 */
export async function decodeHeic(bytes, { maxPixels, lib = null }) {
  lib = lib || (await loadLibheif());
  const ctx = lib.heif_context_alloc();
  if (!ctx) throw new HeicError('libheif could not allocate a context', 'too-large');
  const handles = [];
  try {
    check(lib, lib.heif_context_read_from_memory(ctx, bytes), 'reading the HEIF file');
    const ids = lib.heif_js_context_get_list_of_top_level_image_IDs(ctx);
    if (!ids || ids.code !== undefined || !ids.length) throw new HeicError('the HEIF file holds no image');
    let primary = null;
    for (let i = 0; i < ids.length; i++) {
      const handle = lib.heif_js_context_get_image_handle(ctx, ids[i]);
      if (!handle || handle.code !== undefined) continue;
      handles.push(handle);
      if (lib.heif_image_handle_is_primary_image(handle)) primary = handle;
    }
    if (!primary) throw new HeicError('the HEIF file has no primary image');
    const width = lib.heif_image_handle_get_width(primary);
    const height = lib.heif_image_handle_get_height(primary);
    if (!(width > 0 && height > 0)) throw new HeicError('the HEIF image has no size');
    if (width * height > maxPixels) throw new HeicError(`${width}x${height}`, 'too-large');
    const alpha = !!lib.heif_image_handle_has_alpha_channel(primary);
    const grey = !alpha && isMonochrome(lib, primary);
    const decoded = await lib.heif_js_decode_image2(
      primary,
      grey ? lib.heif_colorspace.heif_colorspace_monochrome : lib.heif_colorspace.heif_colorspace_RGB,
      grey ? lib.heif_chroma.heif_chroma_monochrome : alpha ? lib.heif_chroma.heif_chroma_interleaved_RGBA : lib.heif_chroma.heif_chroma_interleaved_RGB,
    );
    if (!decoded || decoded.code !== undefined) throw new HeicError(`decoding the HEIF image: ${(decoded && decoded.message) || 'failed'}`);
    try {
      const wanted = grey ? lib.heif_channel.heif_channel_Y : lib.heif_channel.heif_channel_interleaved;
      const plane = decoded.channels.find((c) => c.id === wanted);
      if (!plane) throw new HeicError('libheif gave no pixels');
      return { width: plane.width, height: plane.height, data: toRgba(plane, grey ? 1 : alpha ? 4 : 3), alpha, grey };
    } finally {
      lib.heif_image_release(decoded.image);
    }
  } finally {
    for (const handle of handles) lib.heif_image_handle_release(handle);
    lib.heif_context_free(ctx);
  }
}

// pillow-heif decodes a monochrome image without alpha as 'L' (one plane, no conversion): the
// luma stored in the file. libheif's RGB conversion of the same image would map it through the
// YCbCr matrix and range instead, so the two are not the same pixels.
function isMonochrome(lib, handle) {
  // The raw C function (libheif-js binds no JS wrapper for it), so it takes the handle's
  // pointer (embind keeps it in $$.ptr) and returns its struct heif_error through a hidden
  // first pointer (the wasm32 C ABI), then two int out-parameters.
  const mem = lib._malloc(20);
  try {
    lib._heif_image_handle_get_preferred_decoding_colorspace(mem, handle.$$.ptr, mem + 12, mem + 16);
    const heap = lib.HEAP32; // read after the call: memory may have grown
    return heap[mem >> 2] === lib.heif_error_code.heif_error_Ok.value && heap[(mem + 12) >> 2] === lib.heif_colorspace.heif_colorspace_monochrome.value;
  } finally {
    lib._free(mem);
  }
}

function toRgba(plane, channels) {
  const { width, height, stride, data: src } = plane;
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    let s = y * stride;
    let d = y * width * 4;
    for (let x = 0; x < width; x++, d += 4) {
      if (channels === 1) {
        const v = src[s++];
        out[d] = v;
        out[d + 1] = v;
        out[d + 2] = v;
        out[d + 3] = 255;
      } else {
        out[d] = src[s];
        out[d + 1] = src[s + 1];
        out[d + 2] = src[s + 2];
        out[d + 3] = channels === 4 ? src[s + 3] : 255;
        s += channels;
      }
    }
  }
  return out;
}
