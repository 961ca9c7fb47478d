// Benchmark of the pure-JS fingerprint core (static/fingerprint/) on decoded pixels.
//
//   node bench/fingerprint_core_bench.mjs [--width 4000] [--height 3000] [--runs 5]
//        [--python .venv/bin/python | --python none] [--no-workers] [--helper-share 0.85]
//
// Prints, for a synthetic RGBA image (12 megapixels by default, decode excluded):
//   * cold (first call, JIT warming up) and warm timings of fingerprintPixels;
//   * each signal on its own: PDQ (+ quality + dihedral), phash, dhash, ahash;
//   * the two-worker split as the browser does it (worker A: grey rows for B, then PDQ + the
//     first rows of imagehash; worker B: the remaining imagehash rows from the grey values);
//   * MD5 / SHA-256 throughput (streamed in 1 MiB chunks);
//   * peak memory (max RSS) relative to the size of the decoded image;
//   * when a Python with pdqhash/imagehash is available: the reference timings on the same
//     pixels, whether the results are identical, and the speed ratio.
// Timings on a shared machine are noisy: the minimum and the median of the runs are shown.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  fingerprintPixels,
  pdqFromPixels,
  imagehashFromPixels,
  fingerprintPartFromPixels,
  fingerprintFromParts,
  grayFromPixels,
  imagehashPartFromGray,
} from '../static/fingerprint/pixels.js';
import { MD5 } from '../static/fingerprint/md5.js';
import { SHA256 } from '../static/fingerprint/sha256.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const args = { width: 4000, height: 3000, runs: 5, python: undefined, workers: true, helperShare: 0.85 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--width') args.width = Number(argv[++i]);
    else if (a === '--height') args.height = Number(argv[++i]);
    else if (a === '--runs') args.runs = Number(argv[++i]);
    else if (a === '--python') args.python = argv[++i];
    else if (a === '--no-workers') args.workers = false;
    else if (a === '--helper-share') args.helperShare = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (args.python === undefined) {
    const venv = path.join(ROOT, '.venv', 'bin', 'python');
    args.python = existsSync(venv) ? venv : 'none';
  }
  return args;
}

/** A deterministic photo-like test card: gradients, shapes, fine texture, noise. */
function syntheticImage(width, height) {
  const buffer = new SharedArrayBuffer(width * height * 4);
  const data = new Uint8ClampedArray(buffer);
  let s = 0x9e3779b9;
  const circles = [];
  for (let k = 0; k < 12; k++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const cx = s % width;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const cy = s % height;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    circles.push([cx, cy, 40 + (s % Math.max(41, Math.floor(Math.min(width, height) / 5))), s & 0xffffff]);
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const n = (s >>> 24) & 31;
      let r = (x * 255) / width;
      let g = (y * 255) / height;
      let b = 128 + 60 * Math.sin(x / 37) * Math.cos(y / 53);
      for (const [cx, cy, rad, col] of circles) {
        const dx = x - cx;
        const dy = y - cy;
        if (dx * dx + dy * dy < rad * rad) {
          r = col & 255;
          g = (col >>> 8) & 255;
          b = (col >>> 16) & 255;
        }
      }
      const i = (y * width + x) * 4;
      data[i] = r + n - 16;
      data[i + 1] = g + ((n * 7) & 31) - 16;
      data[i + 2] = b + ((n * 13) & 31) - 16;
      data[i + 3] = 255;
    }
  }
  return { width, height, data, buffer };
}

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor((sorted.length - 1) / 2)] };
}

function time(runs, fn) {
  const times = [];
  let result;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    result = fn();
    times.push(performance.now() - t0);
  }
  return { ...stats(times), result };
}

const fmt = (ms) => `${ms.toFixed(0).padStart(5)} ms`;
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
const maxRssBytes = () => process.resourceUsage().maxRSS * 1024;

function row(label, t) {
  console.log(`  ${label.padEnd(46)} min ${fmt(t.min)}   median ${fmt(t.median)}`);
}

async function runWorkers(image, split, runs) {
  // As static/fingerprint/worker.js does it: worker A converts the rows [split, H) to Pillow
  // 'L' grey and hands them over (transferred), then computes PDQ + the imagehash share of
  // rows [0, split); worker B computes the share of rows [split, H) from the grey values.
  const workers = [0, 1].map(() => new Worker(fileURLToPath(import.meta.url)));
  const [A, B] = workers;
  const next = (w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.setMaxListeners(0); // one error listener per awaited message; they do not leak past a run
  });
  const ready = next(A);
  A.postMessage({ type: 'image', width: image.width, height: image.height, buffer: image.buffer });
  await ready;
  const H = image.height;
  const job = async () => {
    const t0 = performance.now();
    const fromA = next(A);
    A.postMessage({ type: 'first', split });
    const handed = await fromA; // the grey rows, sent before A starts its own share
    const firstDone = next(A);
    const fromB = next(B);
    B.postMessage({ type: 'gray', width: image.width, height: H, y0: split, y1: H, gray: handed.gray }, [handed.gray.buffer]);
    const [a, b] = await Promise.all([firstDone, fromB]);
    const r = fingerprintFromParts(a.first, [b.part]);
    const wall = performance.now() - t0;
    return { wall, a: a.ms + handed.ms, b: b.ms, result: r };
  };
  const first = await job(); // cold: JIT warming up in the workers
  const warm = [];
  let last = first;
  for (let i = 0; i < runs; i++) {
    last = await job();
    warm.push(last);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  return { first, warm: stats(warm.map((r) => r.wall)), a: stats(warm.map((r) => r.a)), b: stats(warm.map((r) => r.b)), result: last.result };
}

function pythonReference(python, image, runs) {
  const dir = mkdtempSync(path.join(tmpdir(), 'fpbench-'));
  try {
    const raw = path.join(dir, 'rgba.raw');
    writeFileSync(raw, new Uint8Array(image.buffer));
    const script = `
import json, sys, time
import numpy as np, pdqhash, imagehash
from PIL import Image
w, h, runs = ${image.width}, ${image.height}, ${runs}
rgba = np.fromfile(${JSON.stringify(raw)}, dtype=np.uint8).reshape(h, w, 4)
rgb = np.ascontiguousarray(rgba[:, :, :3])
pil = Image.fromarray(rgba)
def best(fn):
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); r = fn(); ts.append(time.perf_counter() - t0)
    ts.sort()
    return r, ts[0] * 1000, ts[(len(ts) - 1) // 2] * 1000
def bits_hex(bits):
    v = 0
    for b in bits: v = (v << 1) | int(b)
    return f"{v:064x}"
(pdq_bits, q), pdq_min, pdq_med = best(lambda: pdqhash.compute(rgb))
dih, dih_min, dih_med = best(lambda: pdqhash.compute_dihedral(rgb))
def trio():
    return str(imagehash.phash(pil)), str(imagehash.dhash(pil)), str(imagehash.average_hash(pil))
(ph, dh, ah), ih_min, ih_med = best(trio)
print(json.dumps({"pdq": bits_hex(pdq_bits), "pdq_quality": int(q),
    "pdq_dihedral": [bits_hex(b) for b in dih[0]], "phash": ph, "dhash": dh, "ahash": ah,
    "pdq_ms": [pdq_min, pdq_med], "dihedral_ms": [dih_min, dih_med], "imagehash_ms": [ih_min, ih_med]}))
`;
    const out = spawnSync(python, ['-c', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (out.status !== 0) return { error: (out.stderr || out.error?.message || 'failed').trim().split('\n').pop() };
    return JSON.parse(out.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const rssStart = maxRssBytes();
  const image = syntheticImage(args.width, args.height);
  const imageBytes = image.data.length;
  const rssImage = maxRssBytes();
  const mp = (args.width * args.height) / 1e6;
  console.log(`fingerprint core benchmark: ${args.width}x${args.height} RGBA (${mp.toFixed(1)} MP, ${mib(imageBytes)}), ` +
    `node ${process.version}, ${args.runs} warm runs`);
  console.log(`${cpus().length} CPUs, load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} ` +
    '(other work on the machine inflates the medians; the minimum is the better estimate)');

  console.log('\nsingle thread');
  const cold = time(1, () => fingerprintPixels(image));
  const rssFirst = maxRssBytes();
  row('fingerprintPixels, first call (cold JIT)', cold);
  const all = time(args.runs, () => fingerprintPixels(image));
  row('fingerprintPixels (all perceptual signals)', all);
  const pdq = time(args.runs, () => pdqFromPixels(image));
  row('PDQ + quality + 8 dihedral (pdqFromPixels)', pdq);
  const ih = time(args.runs, () => imagehashFromPixels(image));
  row('phash + dhash + ahash (imagehashFromPixels)', ih);
  for (const name of ['phash', 'dhash', 'ahash']) {
    row(`${name} alone`, time(args.runs, () => imagehashFromPixels(image, { signals: [name] })));
  }
  const rssSingle = maxRssBytes();

  let par = null;
  if (args.workers) {
    // The browser's split (worker.js HELPER_SHARE): the helper takes this share of the rows.
    const split = Math.max(1, Math.min(args.height - 1, Math.round(args.height * (1 - args.helperShare))));
    par = await runWorkers(image, split, args.runs);
    console.log(`\ntwo workers (A: PDQ + imagehash rows 0..${split}, B: imagehash rows ${split}..${args.height})`);
    row('wall time, first call (cold JIT)', { min: par.first.wall, median: par.first.wall });
    row('wall time, all perceptual signals', par.warm);
    row('  worker A busy', par.a);
    row('  worker B busy', par.b);
    const same = JSON.stringify(par.result) === JSON.stringify(all.result);
    console.log(`  same fingerprints as single thread: ${same}`);
  }

  console.log('\nfile hashes (1 MiB chunks, 64 MiB of data)');
  const bytes = new Uint8Array(64 << 20);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  for (const [name, Cls] of [['MD5', MD5], ['SHA-256', SHA256]]) {
    const t = time(3, () => {
      const h = new Cls();
      for (let i = 0; i < bytes.length; i += 1 << 20) h.update(bytes.subarray(i, i + (1 << 20)));
      return h.hexdigest();
    });
    console.log(`  ${name.padEnd(8)} ${(64 / (t.min / 1000)).toFixed(0).padStart(5)} MiB/s (best of 3)`);
  }

  console.log('\nmemory (max RSS of this process)');
  console.log(`  before the image ${mib(rssStart)}, with the image ${mib(rssImage)}, ` +
    `after one fingerprintPixels ${mib(rssFirst)}, after all single-thread runs ${mib(rssSingle)}`);
  const copies = (rssFirst - rssStart) / imageBytes;
  console.log(`  one fingerprintPixels call: the image plus ${mib(rssFirst - rssImage)} ` +
    `(typed arrays, JIT code, heap) = ${copies.toFixed(2)} x the decoded image (goal: <= 3)`);

  console.log('\nfingerprints (single thread):');
  console.log(`  pdq ${all.result.pdq} (quality ${all.result.pdq_quality})`);
  console.log(`  phash ${all.result.phash}  dhash ${all.result.dhash}  ahash ${all.result.ahash}`);

  console.log(`\nload average at the end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  if (args.python && args.python !== 'none') {
    console.log(`\nPython references on the same pixels (${args.python})`);
    const ref = pythonReference(args.python, image, Math.min(args.runs, 3));
    if (ref.error) {
      console.log(`  not run: ${ref.error}`);
    } else {
      const fields = ['pdq', 'pdq_quality', 'pdq_dihedral', 'phash', 'dhash', 'ahash'];
      const identical = fields.every((f) => JSON.stringify(ref[f]) === JSON.stringify(all.result[f]));
      console.log(`  pdqhash.compute          min ${fmt(ref.pdq_ms[0])}   median ${fmt(ref.pdq_ms[1])}`);
      console.log(`  pdqhash.compute_dihedral min ${fmt(ref.dihedral_ms[0])}   median ${fmt(ref.dihedral_ms[1])}`);
      console.log(`  imagehash phash+dhash+ahash min ${fmt(ref.imagehash_ms[0])}   median ${fmt(ref.imagehash_ms[1])}`);
      console.log(`  results bit-identical to ours: ${identical}`);
      const ratio = (theirs, ours) => `${(theirs / ours).toFixed(2)}x`;
      console.log('  speed ratio pdqhash.compute time / our time (goal >= 2), min vs min and median vs median:');
      console.log(`    all signals, single thread   ${ratio(ref.pdq_ms[0], all.min)} / ${ratio(ref.pdq_ms[1], all.median)}`);
      if (par) {
        console.log(`    all signals, two workers     ${ratio(ref.pdq_ms[0], par.warm.min)} / ${ratio(ref.pdq_ms[1], par.warm.median)}`);
      }
      console.log(`    PDQ alone, single thread     ${ratio(ref.pdq_ms[0], pdq.min)} / ${ratio(ref.pdq_ms[1], pdq.median)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Entry: as a worker, compute what the main thread asks on the shared pixels; else run.
if (!isMainThread) {
  let image = null;
  parentPort.on('message', (msg) => {
    if (msg.type === 'image') {
      image = { width: msg.width, height: msg.height, data: new Uint8ClampedArray(msg.buffer) };
      parentPort.postMessage({ type: 'ready' });
      return;
    }
    if (msg.type === 'first') {
      let t0 = performance.now();
      const gray = grayFromPixels(image, msg.split, image.height);
      parentPort.postMessage({ gray, ms: performance.now() - t0 }, [gray.buffer]);
      t0 = performance.now();
      const first = fingerprintPartFromPixels(image, msg.split);
      parentPort.postMessage({ first, ms: performance.now() - t0 });
      return;
    }
    const t0 = performance.now();
    const part = imagehashPartFromGray({ width: msg.width, height: msg.height, gray: msg.gray }, msg.y0, msg.y1);
    parentPort.postMessage({ part, ms: performance.now() - t0 });
  });
} else {
  await main();
}
