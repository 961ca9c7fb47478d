// The page entry point for fingerprinting files on this device. Nothing here sends anything
// anywhere: files are read by a Web Worker of this origin and only fingerprints come back.
//
//   fingerprintFile(file, {onProgress, signal})  -> Promise<result>      (one file)
//   fingerprintFiles(files, {onProgress, signal, concurrency}) -> Promise<outcome[]>
//   fingerprintPixels({width, height, data})     -> perceptual part, synchronously (Node, tests)
//
// A result is {kind: 'image'|'video', format, exact, pdq, pdq_quality, pdq_dihedral, pdq_crops,
// phash, dhash, ahash, md5, sha256, width, height, orientation, warnings, signals, timings}. For a
// video only md5 and sha256 are set (the perceptual fields are null). `exact` is false when
// the fingerprints may differ from what a platform computes on the same file (the warnings
// say why); `signals` lists exactly what to submit. Errors are FingerprintError objects with a
// `code` and a `message` written for the person using the page. docs/fingerprints.md has more.
'use strict';

export { fingerprintPixels } from './pixels.js';

// Written exactly so (a relative path, import.meta.url): the static storage rewrites it to the
// hashed worker.js of this release (portal/storage.py), whose imports are hashed in turn, so
// the worker runs the same modules as this page and takes them from the browser's cache.
const WORKER_URL = new URL('./worker.js', import.meta.url);

/** A file that could not be fingerprinted; `message` can be shown as is. */
export class FingerprintError extends Error {
  constructor(code, message, detail) {
    super(message);
    this.name = code === 'cancelled' ? 'AbortError' : 'FingerprintError';
    this.code = code;
    this.detail = detail;
  }
}

function abortError() {
  return new FingerprintError('cancelled', 'Stopped.');
}

let nextId = 1;
const idle = []; // workers waiting for a job; a cancelled job's worker is terminated instead

function takeWorker() {
  return idle.pop() || new Worker(WORKER_URL, { type: 'module', name: 'fingerprint' });
}

/**
 * Fingerprint one file in a Web Worker.
 * @param {File|Blob} file
 * @param {{onProgress?: (p: {stage: string, loaded: number, total: number, fraction: number}) => void,
 *          signal?: AbortSignal, maxPixels?: number, threads?: 1|2, engine?: 'auto'|'wasm'|'js'}} [options]
 *   engine: 'auto' (default) hashes with the WebAssembly SIMD engine where the browser runs it
 *   and with the JavaScript engine elsewhere; 'wasm' or 'js' forces one ('wasm' fails where it
 *   cannot run). threads: hashing threads of the JavaScript engine for one image (default: 2
 *   when navigator.hardwareConcurrency >= 2). Results are identical on every path.
 * @returns {Promise<object>} the result described at the top of this file
 */
export function fingerprintFile(file, { onProgress, signal, maxPixels, threads, engine } = {}) {
  if (signal && signal.aborted) return Promise.reject(abortError());
  const id = nextId++;
  const worker = takeWorker();
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (keepWorker) => {
      settled = true;
      worker.onmessage = worker.onerror = null;
      if (signal) signal.removeEventListener('abort', onAbort);
      if (keepWorker) idle.push(worker);
      else worker.terminate();
    };
    // Cancelling terminates the worker: that stops even a long synchronous decode or hash
    // at once, and frees its memory. A new worker is started for the next file.
    const onAbort = () => {
      if (settled) return;
      finish(false);
      reject(abortError());
    };
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    worker.onmessage = (event) => {
      const msg = event.data;
      if (!msg || msg.id !== id || settled) return;
      if (msg.type === 'progress') {
        if (onProgress) {
          // Reading is most of the time for videos; for images decoding and hashing are.
          const weights = { reading: [0, 0.2], decoding: [0.2, 0.5], hashing: [0.5, 1] };
          const [a, b] = weights[msg.stage] || [0, 1];
          const within = msg.total ? msg.loaded / msg.total : 0;
          onProgress({ stage: msg.stage, loaded: msg.loaded, total: msg.total, fraction: a + (b - a) * within });
        }
      } else if (msg.type === 'result') {
        finish(true);
        if (onProgress) onProgress({ stage: 'done', loaded: file.size, total: file.size, fraction: 1 });
        resolve(msg.result);
      } else if (msg.type === 'error') {
        finish(msg.code !== 'internal');
        reject(new FingerprintError(msg.code, msg.message, msg.detail));
      }
    };
    worker.onerror = (event) => {
      if (settled) return;
      finish(false);
      reject(new FingerprintError('internal', 'Something went wrong while fingerprinting this file. Nothing was sent anywhere. Please try again.', event && event.message));
    };
    worker.postMessage({ type: 'fingerprint', id, file, options: { maxPixels, threads, engine } });
  });
}

/**
 * Fingerprint several files, a few at a time, with per-file and overall progress. One file
 * failing does not stop the others; cancelling (signal) stops all that are not finished.
 * @param {Iterable<File>} files
 * @param {{onProgress?: (p: {index: number, file: File, stage: string, fraction: number,
 *          overall: number, done: number, total: number}) => void,
 *          onFileDone?: (outcome: object) => void, signal?: AbortSignal, concurrency?: number}} [options]
 * @returns {Promise<Array<{index: number, file: File, ok: boolean, result?: object,
 *          error?: {code: string, message: string}}>>} in the order of `files`
 */
export async function fingerprintFiles(files, { onProgress, onFileDone, signal, concurrency } = {}) {
  const list = Array.from(files);
  // Each worker holds one decoded image; two at most keeps memory bounded on phones, and one
  // core is left to the page where there are only two.
  const cores = (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 2;
  const lanes = Math.max(1, Math.min(concurrency || Math.min(2, cores - 1), list.length));
  // Overall progress weighs files by size, so one big video does not jump the bar to 90%.
  const sizes = list.map((f) => Math.max(1, f.size || 0));
  const totalSize = sizes.reduce((a, b) => a + b, 0);
  const fractions = new Array(list.length).fill(0);
  let done = 0;
  const outcomes = new Array(list.length);
  const report = (index, stage) => {
    if (!onProgress) return;
    const overall = fractions.reduce((acc, f, i) => acc + f * sizes[i], 0) / totalSize;
    onProgress({ index, file: list[index], stage, fraction: fractions[index], overall, done, total: list.length });
  };
  let cursor = 0;
  const lane = async () => {
    while (cursor < list.length) {
      const index = cursor++;
      const file = list[index];
      let outcome;
      if (signal && signal.aborted) {
        outcome = { index, file, ok: false, error: { code: 'cancelled', message: 'Stopped.' } };
      } else {
        try {
          const result = await fingerprintFile(file, {
            signal,
            onProgress: (p) => {
              fractions[index] = p.fraction;
              report(index, p.stage);
            },
          });
          outcome = { index, file, ok: true, result };
        } catch (e) {
          outcome = { index, file, ok: false, error: { code: e.code || 'internal', message: e.message, detail: e.detail } };
        }
      }
      fractions[index] = 1;
      done++;
      outcomes[index] = outcome;
      report(index, outcome.ok ? 'done' : 'failed');
      if (onFileDone) onFileDone(outcome);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return outcomes;
}
