// Benchmark of the fingerprint core (static/fingerprint/) on decoded pixels, both engines:
// the WebAssembly SIMD one (simd.js + kernels.wat) and the pure-JS one, side by side.
//
//   node bench/fingerprint_core_bench.mjs [--width 4000] [--height 3000] [--runs 5]
//        [--engine both|wasm|js] [--python .venv/bin/python | --python none] [--no-workers]
//        [--helper-share 0.85]
//
// --engine picks what is timed (default both); the engine is always passed explicitly, since
// fingerprintPixels' default ('auto') is whichever defaultEngine() picks here.
//
// Prints, for a synthetic RGBA image (12 megapixels by default, decode excluded):
//   * which engine defaultEngine() picks, and what compiling the WebAssembly module costs;
//   * WebAssembly engine: cold (first call) and warm timings of fingerprintPixels;
//   * JS engine: cold (first call, JIT warming up) and warm timings of fingerprintPixels, then
//     each signal on its own: PDQ (+ quality + dihedral), phash, dhash, ahash, and the
//     two-worker split as the browser runs it on the JS engine (worker A: grey rows for B,
//     then PDQ + the first rows of imagehash; worker B: the remaining imagehash rows from the
//     grey values) - these call JS-only functions, so they are JS engine figures;
//   * whether the two engines give deepEqual results (the exit status is 1 if any check fails);
//   * MD5 / SHA-256 throughput (streamed in 1 MiB chunks);
//   * peak memory (max RSS) of one fingerprintPixels call relative to the size of the decoded
//     image, for each engine (the second one in a fresh child process: max RSS never falls);
//   * when a Python with pdqhash/imagehash is available: the reference timings on the same
//     pixels, whether each engine's results are identical to them, and the speed ratios.
// Timings on a shared machine are noisy: the minimum and the median of the runs are shown.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

import {
  defaultEngine,
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
import { simdUnavailableReason } from '../static/fingerprint/simd.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const args = {
    width: 4000, height: 3000, runs: 5, engine: 'both', python: undefined, workers: true, helperShare: 0.85,
    memoryProbe: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--width') args.width = Number(argv[++i]);
    else if (a === '--height') args.height = Number(argv[++i]);
    else if (a === '--runs') args.runs = Number(argv[++i]);
    else if (a === '--python') args.python = argv[++i];
    else if (a === '--no-workers') args.workers = false;
    else if (a === '--helper-share') args.helperShare = Number(argv[++i]);
    else if (a === '--engine') args.engine = argv[++i];
    else if (a === '--memory-probe') args.memoryProbe = argv[++i]; // internal: see memoryProbe()
    else throw new Error(`unknown argument ${a}`);
  }
  if (!['both', 'wasm', 'js'].includes(args.engine)) throw new Error(`--engine must be both, wasm or js, not ${args.engine}`);
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
// Linux's VmHWM rather than getrusage's maxRSS: the latter carries over, through exec, the
// RSS of the process we were forked from (the whole benchmark, for the memory probe's child).
function maxRssBytes() {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

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

const RESULT_FIELDS = ['pdq', 'pdq_quality', 'pdq_dihedral', 'phash', 'dhash', 'ahash']; // what Python gives too
const ENGINE_LABEL = { wasm: 'WebAssembly engine', js: 'JS engine' };

/** Which top-level fields of two fingerprintPixels results differ. */
function differingFields(a, b) {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !isDeepStrictEqual(a[k], b[k]));
}

/** Max RSS around one engine's first fingerprintPixels call, from a fresh process. */
function memoryProbe(args, engine) {
  // Max RSS is a high-water mark: once one engine has run in a process, another engine's
  // smaller peak cannot be seen there, so the second engine is measured in a child that
  // does only what the main process did before its first call (see maxRssBytes).
  const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--memory-probe', engine,
    '--width', String(args.width), '--height', String(args.height), '--python', 'none'],
  { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (out.status !== 0) return { error: (out.stderr || out.error?.message || 'failed').trim().split('\n').pop() };
  return JSON.parse(out.stdout);
}

function printMemory(label, m) {
  console.log(`  ${label}: before the image ${mib(m.rssStart)}, with the image ${mib(m.rssImage)}, ` +
    `after one fingerprintPixels ${mib(m.rssFirst)}`);
  const copies = (m.rssFirst - m.rssStart) / m.imageBytes;
  console.log(`    one call: the image plus ${mib(m.rssFirst - m.rssImage)} ` +
    `(buffers, compiled code, heap) = ${copies.toFixed(2)} x the decoded image (goal: <= 3)`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.memoryProbe) {
    const rssStart = maxRssBytes();
    const image = syntheticImage(args.width, args.height);
    const rssImage = maxRssBytes();
    defaultEngine();
    fingerprintPixels(image, { engine: args.memoryProbe });
    console.log(JSON.stringify({ rssStart, rssImage, rssFirst: maxRssBytes(), imageBytes: image.data.length }));
    return;
  }
  const failures = [];
  const fail = (msg) => {
    failures.push(msg);
    console.log(`  FAILED: ${msg}`);
  };
  const rssStart = maxRssBytes();
  const image = syntheticImage(args.width, args.height);
  const imageBytes = image.data.length;
  const rssImage = maxRssBytes();
  const mp = (args.width * args.height) / 1e6;
  console.log(`fingerprint core benchmark: ${args.width}x${args.height} RGBA (${mp.toFixed(1)} MP, ${mib(imageBytes)}), ` +
    `node ${process.version}, ${args.runs} warm runs, engine ${args.engine}`);
  console.log(`${cpus().length} CPUs, load average ${loadavg().map((v) => v.toFixed(2)).join(' ')} ` +
    '(other work on the machine inflates the medians; the minimum is the better estimate)');

  // The first defaultEngine() compiles and instantiates the module; timed apart so that the
  // cold figure below is the first image's cost in a worker that already has the engine.
  const t0 = performance.now();
  const picked = defaultEngine();
  const compileMs = performance.now() - t0;
  console.log(`\ndefaultEngine() picks '${picked}' here (what fingerprintPixels uses without an engine option)`);
  // WebAssembly engine first: its cold call is what a fresh worker pays on its first image,
  // so it should not find the shared JavaScript (DCT, quality, hash bits) already optimised.
  let engines = args.engine === 'both' ? ['wasm', 'js'] : [args.engine];
  if (picked === 'wasm') {
    console.log(`  compiling + instantiating the WebAssembly module took ${compileMs.toFixed(1)} ms` +
      (engines.includes('wasm') ? ' (not in the cold figure)' : ''));
  } else if (engines.includes('wasm')) {
    fail(`WebAssembly engine unavailable here: ${simdUnavailableReason()}`);
    engines = engines.filter((e) => e !== 'wasm');
    if (!engines.length) {
      process.exitCode = 1;
      return;
    }
  }

  const single = {}; // engine -> {cold, all}, the fingerprintPixels timings
  let rssFirst = null;
  let pdq = null;
  const headings = {
    wasm: ["WebAssembly engine, single thread (fingerprintPixels, engine: 'wasm')", 'first call (cold)'],
    js: ["JS engine, single thread (fingerprintPixels, engine: 'js'; the parts are JS-only functions)", 'first call (cold JIT)'],
  };
  for (const engine of engines) {
    const [heading, coldLabel] = headings[engine];
    console.log(`\n${heading}`);
    single[engine] = { cold: time(1, () => fingerprintPixels(image, { engine })) };
    rssFirst ??= maxRssBytes();
    row(`fingerprintPixels, ${coldLabel}`, single[engine].cold);
    single[engine].all = time(args.runs, () => fingerprintPixels(image, { engine }));
    row('fingerprintPixels (all perceptual signals)', single[engine].all);
    if (engine === 'js') {
      pdq = time(args.runs, () => pdqFromPixels(image));
      row('PDQ + quality + 8 dihedral (pdqFromPixels)', pdq);
      const ih = time(args.runs, () => imagehashFromPixels(image));
      row('phash + dhash + ahash (imagehashFromPixels)', ih);
      for (const name of ['phash', 'dhash', 'ahash']) {
        row(`${name} alone`, time(args.runs, () => imagehashFromPixels(image, { signals: [name] })));
      }
    }
  }
  const rssSingle = maxRssBytes();

  console.log('\nchecks');
  // The engine keeps its memory from call to call: a first call and a later one must agree.
  for (const engine of engines) {
    const same = isDeepStrictEqual(single[engine].cold.result, single[engine].all.result);
    console.log(`  ${ENGINE_LABEL[engine]}: first call and warm runs give the same result: ${same}`);
    if (!same) fail(`${ENGINE_LABEL[engine]}: first call and warm runs differ in ${differingFields(single[engine].cold.result, single[engine].all.result).join(', ')}`);
  }
  if (single.wasm && single.js) {
    const same = isDeepStrictEqual(single.wasm.all.result, single.js.all.result);
    console.log(`  WebAssembly engine result deepEqual to the JS engine's: ${same}`);
    if (!same) fail(`the WebAssembly and JS engines give different results (${differingFields(single.wasm.all.result, single.js.all.result).join(', ')})`);
  }

  let par = null;
  if (args.workers && single.js) {
    // The browser's split (worker.js HELPER_SHARE): the helper takes this share of the rows.
    const split = Math.max(1, Math.min(args.height - 1, Math.round(args.height * (1 - args.helperShare))));
    par = await runWorkers(image, split, args.runs);
    console.log(`\nJS engine, two workers (A: PDQ + imagehash rows 0..${split}, B: imagehash rows ${split}..${args.height})`);
    row('wall time, first call (cold JIT)', { min: par.first.wall, median: par.first.wall });
    row('wall time, all perceptual signals', par.warm);
    row('  worker A busy', par.a);
    row('  worker B busy', par.b);
    const same = isDeepStrictEqual(par.result, single.js.all.result);
    console.log(`  same fingerprints as the JS engine single thread: ${same}`);
    if (!same) fail(`the two-worker split differs from the JS engine single thread in ${differingFields(par.result, single.js.all.result).join(', ')}`);
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

  console.log('\nmemory (max RSS)');
  printMemory(`${ENGINE_LABEL[engines[0]]}, this process`, { rssStart, rssImage, rssFirst, imageBytes });
  for (const engine of engines.slice(1)) {
    const m = memoryProbe(args, engine);
    if (m.error) console.log(`  ${ENGINE_LABEL[engine]}, fresh process: not measured: ${m.error}`);
    else printMemory(`${ENGINE_LABEL[engine]}, fresh process`, m);
  }
  console.log(`  this process after all single-thread runs: ${mib(rssSingle)}`);

  const shown = [];
  for (const engine of engines) {
    const r = single[engine].all.result;
    if (shown.some((s) => isDeepStrictEqual(s, r))) continue; // identical: printed once
    shown.push(r);
    console.log(`\nfingerprints (${engines.filter((e) => isDeepStrictEqual(single[e].all.result, r)).map((e) => ENGINE_LABEL[e]).join(', ')}):`);
    console.log(`  pdq ${r.pdq} (quality ${r.pdq_quality})`);
    console.log(`  phash ${r.phash}  dhash ${r.dhash}  ahash ${r.ahash}`);
  }

  console.log(`\nload average at the end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  if (args.python && args.python !== 'none') {
    console.log(`\nPython references on the same pixels (${args.python})`);
    const ref = pythonReference(args.python, image, Math.min(args.runs, 3));
    if (ref.error) {
      console.log(`  not run: ${ref.error}`);
    } else {
      console.log(`  pdqhash.compute          min ${fmt(ref.pdq_ms[0])}   median ${fmt(ref.pdq_ms[1])}`);
      console.log(`  pdqhash.compute_dihedral min ${fmt(ref.dihedral_ms[0])}   median ${fmt(ref.dihedral_ms[1])}`);
      console.log(`  imagehash phash+dhash+ahash min ${fmt(ref.imagehash_ms[0])}   median ${fmt(ref.imagehash_ms[1])}`);
      for (const engine of engines) {
        const r = single[engine].all.result;
        const differ = RESULT_FIELDS.filter((f) => !isDeepStrictEqual(ref[f], r[f]));
        console.log(`  ${ENGINE_LABEL[engine]} results bit-identical to the references: ${!differ.length}`);
        if (differ.length) fail(`${ENGINE_LABEL[engine]} differs from pdqhash/imagehash in ${differ.join(', ')}`);
      }
      const both = [ref.pdq_ms[0] + ref.imagehash_ms[0], ref.pdq_ms[1] + ref.imagehash_ms[1]];
      const ratio = (theirs, ours) => `${(theirs / ours).toFixed(2)}x`.padStart(6);
      const ratios = (theirs, t) => `${ratio(theirs[0], t.min)} / ${ratio(theirs[1], t.median)}`;
      console.log(`${'  speed ratios, min vs min / median vs median'.padEnd(51)}${'pdqhash / ours'.padEnd(19)}(pdqhash + imagehash) / ours`);
      const line = (label, t, withImagehash = true) =>
        console.log(`    ${label.padEnd(46)} ${ratios(ref.pdq_ms, t)}    ${withImagehash ? ratios(both, t) : '     -'}`);
      if (single.wasm) line('all signals, WebAssembly engine, single thread', single.wasm.all);
      if (single.js) line('all signals, JS engine, single thread', single.js.all);
      if (par) line('all signals, JS engine, two workers', par.warm);
      if (pdq) line('PDQ alone, JS engine, single thread', pdq, false);
      console.log('  legend: Python time / our time, above 1x we are faster (goal: pdqhash / ours >= 2); ' +
        'pdqhash = pdqhash.compute, one PDQ (ours adds dihedral + crops); imagehash = phash + dhash + ahash');
    }
  }

  if (failures.length) {
    console.log(`\nFAILED (${failures.length}):`);
    for (const f of failures) console.log(`  ${f}`);
    process.exitCode = 1;
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
