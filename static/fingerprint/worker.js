// The fingerprinting Web Worker (a module worker): reads, decodes and hashes one file at a
// time off the page's thread, so the page stays responsive and can show progress.
//
// Protocol (all messages are plain objects; see docs/fingerprints.md):
//   page -> worker  {type: 'fingerprint', id, file, options?: {maxPixels, threads, engine}}
//                      engine: 'auto' (default: WebAssembly SIMD where it runs, else
//                      JavaScript) | 'wasm' | 'js'; threads: 1 or 2 hashing threads for the
//                      JavaScript engine (default 2 when the device has two cores); the
//                      second is a nested worker (helper.js)
//                   {type: 'cancel', id}          stops a running job at its next checkpoint
//   worker -> page  {type: 'progress', id, stage, loaded, total}
//                      stage: 'reading' | 'decoding' | 'hashing'; loaded/total in bytes
//                   {type: 'result', id, result}
//                   {type: 'error', id, code, message, detail?}
//                      code: 'empty' | 'corrupt' | 'unsupported' | 'too-large' | 'canvas-noise'
//                            | 'cancelled' | 'internal'
// The page side (index.js) also terminates the worker to cancel a job that is inside one
// long synchronous step (decoding or hashing a huge image).
'use strict';

import { decodeImage, DEFAULT_MAX_PIXELS, FingerprintFileError, MESSAGES, sniff } from './decode.js';
import { MD5 } from './md5.js';
import { SHA256 } from './sha256.js';
import {
  fingerprintPixels,
  fingerprintPartFromPixels,
  fingerprintFromParts,
  grayFromPixels,
  imagehashPartFromPixels,
} from './pixels.js';
import { imageSignals, videoSignals } from './signals.js';
import { simdEngine } from './simd.js';

// Videos and other large files are read in pieces of this size, so memory stays flat
// whatever the file size (a 2 GB video never sits in memory whole).
const CHUNK = 4 * 1024 * 1024;
// Above this an image file is not read into memory at all (no photo is near it).
const MAX_IMAGE_FILE_BYTES = 512 * 1024 * 1024;

const cancelled = new Set();

// ---------------------------------------------------------------------------------------
// Hashing one image with two threads. On one core PDQ takes about a third of the hashing
// time and the three imagehash resizes two thirds; the resizes split by rows with exact
// results (resize.js). So this worker computes PDQ plus the imagehash share of the top rows
// [0, split) in one pass, while a helper worker computes the share of rows [split, H) from
// their Pillow 'L' values (a quarter of the RGBA size, transferred). HELPER_SHARE is the
// fraction of rows the helper takes so that both finish together: with PDQ costing p and the
// imagehash half i per image, the helper gets f = (p + i) / (2i - g) of the rows, g being
// the cost of the grey conversion done here for them. Measured (bench/fingerprint_bench.py
// prints each thread's busy time; bench/fingerprint_core_bench.mjs the parts), p is about
// 0.6 i with the crop fingerprints and g about 0.12 i, so f ~ 0.85.
const HELPER_SHARE = 0.85;
// Below this many pixels the hand-over costs more than it saves.
const MIN_PARALLEL_PIXELS = 256 * 256;

let helper = null; // the nested helper worker, kept for the next file
let helperBroken = false;
let nextJob = 1;

function cores() {
  return (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1;
}

function useHelper(width, height, options) {
  const wanted = options.threads ?? (cores() >= 2 ? 2 : 1);
  return wanted >= 2 && !helperBroken && typeof Worker !== 'undefined' && width * height >= MIN_PARALLEL_PIXELS && height >= 2;
}

// The URL is written as new URL('./helper.js', import.meta.url) so that the static storage
// rewrites it to this release's hashed helper.js (see index.js's WORKER_URL).
function getHelper() {
  if (!helper) helper = new Worker(new URL('./helper.js', import.meta.url), { type: 'module', name: 'fingerprint-helper' });
  return helper;
}

/** The helper's share of rows [y0, y1), or null when the helper failed (we then do it here). */
function helperPart(width, height, y0, y1, gray) {
  return new Promise((resolve) => {
    let w;
    try {
      w = getHelper();
    } catch {
      helperBroken = true; // no nested workers in this browser: one thread from now on
      resolve(null);
      return;
    }
    const job = nextJob++;
    const done = (value) => {
      w.onmessage = w.onerror = null;
      resolve(value);
    };
    w.onmessage = (event) => {
      const msg = event.data || {};
      if (msg.job === job) done(msg.error ? null : { part: msg.part, ms: msg.ms });
    };
    w.onerror = (event) => {
      if (event && event.preventDefault) event.preventDefault();
      helperBroken = true;
      helper = null;
      w.terminate();
      done(null);
    };
    w.postMessage({ job, width, height, y0, y1, gray }, [gray.buffer]);
  });
}

/**
 * fingerprintPixels(decoded). The WebAssembly engine (simd.js) does it on this thread, about
 * four times faster than the JavaScript engine; where WebAssembly is off (iOS Lockdown Mode,
 * hardened browsers) the JavaScript engine runs instead, on two threads when the device has
 * them. Every path gives the same fingerprints. options.engine 'wasm' or 'js' forces one
 * (the tests and the benchmark compare them); 'wasm' fails where it cannot run.
 */
async function hashPixels(decoded, options) {
  const engine = options.engine || 'auto';
  let fallback;
  // Asked for by name, fingerprintPixels itself says why WebAssembly cannot run here.
  if (engine === 'wasm' || (engine !== 'js' && simdEngine())) {
    try {
      return { ...fingerprintPixels(decoded, { engine: 'wasm' }), engine: 'wasm', threads: 1 };
    } catch (e) {
      // A survivor's file must not fail because the fast path did (say the device refused to
      // grow WebAssembly memory): the JavaScript engine gives the same fingerprints.
      if (engine === 'wasm') throw e;
      fallback = String((e && e.message) || e);
    }
  }
  return { ...(await hashPixelsJs(decoded, options)), engine: 'js', engineFallback: fallback };
}

/** The JavaScript engine, on two threads when the device has them; same result. */
async function hashPixelsJs(decoded, options) {
  const { width, height } = decoded;
  if (!useHelper(width, height, options)) return { ...fingerprintPixels(decoded, { engine: 'js' }), threads: 1 };
  const split = Math.max(1, Math.min(height - 1, Math.round(height * (1 - HELPER_SHARE))));
  const t0 = now();
  // The grey rows go first, so the helper starts while this worker does its own share.
  const pending = helperPart(width, height, split, height, grayFromPixels(decoded, split, height));
  const first = fingerprintPartFromPixels(decoded, split);
  const ownMs = now() - t0;
  const helped = await pending;
  if (!helped) {
    const other = imagehashPartFromPixels(decoded, split, height);
    return { ...fingerprintFromParts(first, [other]), threads: 1 };
  }
  // ownMs and helperMs (each worker's busy time) show whether HELPER_SHARE is balanced.
  return { ...fingerprintFromParts(first, [helped.part]), threads: 2, ownMs, helperMs: helped.ms };
}

class Cancelled extends Error {
  constructor() {
    super('cancelled');
    this.code = 'cancelled';
  }
}

function checkpoint(id) {
  if (cancelled.has(id)) throw new Cancelled();
}

function progress(id, stage, loaded, total) {
  self.postMessage({ type: 'progress', id, stage, loaded, total });
}

const now = () => performance.now();

/** MD5 and SHA-256 of a file, streamed chunk by chunk. */
async function exactHashesStreamed(id, file) {
  const md5 = new MD5();
  const sha256 = new SHA256();
  let loaded = 0;
  for (let start = 0; start < file.size; start += CHUNK) {
    checkpoint(id);
    const chunk = new Uint8Array(await file.slice(start, Math.min(file.size, start + CHUNK)).arrayBuffer());
    md5.update(chunk);
    sha256.update(chunk);
    loaded += chunk.length;
    progress(id, 'reading', loaded, file.size);
  }
  return { md5: md5.hexdigest(), sha256: sha256.hexdigest() };
}

/** MD5 and SHA-256 of bytes already in memory (an image file). */
async function exactHashesOf(bytes) {
  const md5 = new MD5();
  md5.update(bytes);
  let sha256;
  if (self.crypto && self.crypto.subtle) {
    // Native SHA-256 where there is one; same digest as sha256.js, several times faster.
    const digest = new Uint8Array(await self.crypto.subtle.digest('SHA-256', bytes));
    sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  } else {
    const h = new SHA256();
    h.update(bytes);
    sha256 = h.hexdigest();
  }
  return { md5: md5.hexdigest(), sha256 };
}

async function fingerprintVideo(id, file, format) {
  const t0 = now();
  const { md5, sha256 } = await exactHashesStreamed(id, file);
  return {
    kind: 'video',
    format,
    exact: true,
    md5,
    sha256,
    pdq: null,
    pdq_quality: null,
    pdq_dihedral: [],
    pdq_crops: [],
    phash: null,
    dhash: null,
    ahash: null,
    width: null,
    height: null,
    orientation: null,
    warnings: [
      'Videos get exact fingerprints only (MD5 and SHA-256 of the file): they match identical copies of this video file. A browser cannot compute the video fingerprint platforms use for edited copies (vPDQ) exactly.',
    ],
    signals: videoSignals({ md5, sha256 }),
    timings: { readMs: now() - t0, decodeMs: 0, hashMs: 0, totalMs: now() - t0 },
  };
}

async function fingerprintImage(id, file, format, options) {
  const t0 = now();
  if (file.size > MAX_IMAGE_FILE_BYTES) throw new FingerprintFileError('too-large', MESSAGES.tooLarge, `${file.size} bytes`);
  progress(id, 'reading', 0, file.size);
  let bytes = new Uint8Array(await file.arrayBuffer());
  progress(id, 'reading', file.size, file.size);
  checkpoint(id);
  const exactHashes = await exactHashesOf(bytes);
  const t1 = now();
  checkpoint(id);
  progress(id, 'decoding', 0, file.size);
  const decoded = await decodeImage(bytes, { maxPixels: options.maxPixels || DEFAULT_MAX_PIXELS });
  bytes = null; // the file's bytes are not needed any more: let them go before hashing
  const t2 = now();
  checkpoint(id);
  progress(id, 'hashing', 0, file.size);
  const p = await hashPixels(decoded, options);
  const t3 = now();
  const result = {
    kind: 'image',
    format: decoded.format,
    exact: decoded.exact,
    pdq: p.pdq,
    pdq_quality: p.pdq_quality,
    pdq_dihedral: p.pdq_dihedral,
    pdq_crops: p.pdq_crops,
    phash: p.phash,
    dhash: p.dhash,
    ahash: p.ahash,
    md5: exactHashes.md5,
    sha256: exactHashes.sha256,
    width: p.width,
    height: p.height,
    orientation: decoded.orientation,
    warnings: [...decoded.warnings, ...p.warnings],
    signals: null,
    timings: { readMs: t1 - t0, decodeMs: t2 - t1, hashMs: t3 - t2, totalMs: t3 - t0, decoder: decoded.decoder, engine: p.engine, engineFallback: p.engineFallback, threads: p.threads, ownMs: p.ownMs, helperMs: p.helperMs },
  };
  result.signals = imageSignals(result);
  return result;
}

async function run(id, file, options) {
  const head = new Uint8Array(await file.slice(0, 64).arrayBuffer());
  if (head.length === 0) throw new FingerprintFileError('empty', MESSAGES.empty);
  const kind = sniff(head);
  if (kind.kind === 'video') return fingerprintVideo(id, file, kind.format);
  if (kind.kind === 'image') return fingerprintImage(id, file, kind.format, options);
  throw new FingerprintFileError('unsupported', MESSAGES.unsupported, file.type || 'unknown type');
}

self.onmessage = async (event) => {
  const msg = event.data || {};
  if (msg.type === 'cancel') {
    cancelled.add(msg.id);
    return;
  }
  if (msg.type !== 'fingerprint') return;
  const { id, file } = msg;
  try {
    const result = await run(id, file, msg.options || {});
    self.postMessage({ type: 'result', id, result });
  } catch (e) {
    const code = e && e.code ? e.code : 'internal';
    const message =
      code === 'cancelled'
        ? 'Stopped.'
        : e instanceof FingerprintFileError
          ? e.message
          : 'Something went wrong while fingerprinting this file. Nothing was sent anywhere. Please try again.';
    self.postMessage({ type: 'error', id, code, message, detail: e && (e.detail || e.message) ? String(e.detail || e.message) : undefined });
  } finally {
    cancelled.delete(id);
  }
};
