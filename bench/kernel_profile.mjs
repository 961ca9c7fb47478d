// Where the WebAssembly engine's time goes: each kernel of kernels.wat timed separately.
//
//   node bench/kernel_profile.mjs [--width 4000] [--height 3000] [--runs 8]
//
// Wraps every exported kernel of the engine's instance with a timer (the calls themselves
// are unchanged), also times the copies of RGBA rows into WebAssembly memory, and prints the
// per-kernel totals of the last runs (earlier runs let V8 tier the kernels up). The timers
// add a little overhead per call: the total is a few per cent above the plain engine's.
import { fingerprintPixels } from '../static/fingerprint/pixels.js';
import { simdEngine } from '../static/fingerprint/simd.js';

const args = { width: 4000, height: 3000, runs: 8 };
for (let i = 2; i < process.argv.length; i++) {
  const name = process.argv[i].replace(/^--/, '');
  if (!(name in args)) throw new Error(`unknown argument ${process.argv[i]}`);
  args[name] = Number(process.argv[++i]);
}
const { width: W, height: H } = args;

// The same deterministic gradient-plus-noise image every run.
const data = new Uint8ClampedArray(W * H * 4);
let s = 1;
for (let i = 0; i < data.length; i++) {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  data[i] = ((((i >> 2) % W) * 255) / W + (s >>> 29)) & 255;
}
const image = { width: W, height: H, data };

const engine = simdEngine();
if (!engine) throw new Error('no WebAssembly SIMD here');
const totals = {};
const wrapped = { ...engine.k };
for (const [name, fn] of Object.entries(engine.k)) {
  if (typeof fn !== 'function') continue;
  wrapped[name] = (...a) => {
    const t0 = performance.now();
    const r = fn(...a);
    totals[name] = (totals[name] ?? 0) + performance.now() - t0;
    return r;
  };
}
engine.k = wrapped;
const set = Uint8Array.prototype.set;
Uint8Array.prototype.set = function timedSet(...a) {
  const t0 = performance.now();
  const r = set.apply(this, a);
  totals['copy into memory'] = (totals['copy into memory'] ?? 0) + performance.now() - t0;
  return r;
};

console.log(`WebAssembly engine, ${W}x${H} (${((W * H) / 1e6).toFixed(1)} MP), ${args.runs} runs; the last two:`);
for (let run = 0; run < args.runs; run++) {
  for (const key of Object.keys(totals)) totals[key] = 0;
  const t0 = performance.now();
  fingerprintPixels(image, { engine: 'wasm' });
  const total = performance.now() - t0;
  if (run < args.runs - 2) continue;
  const parts = Object.entries(totals).filter(([, ms]) => ms >= 0.05).sort((a, b) => b[1] - a[1]);
  const inKernels = parts.reduce((acc, [, ms]) => acc + ms, 0);
  console.log(`\n  total ${total.toFixed(1)} ms; in the timed parts ${inKernels.toFixed(1)} ms, the rest (JS glue, medians, quality, bits) ${(total - inKernels).toFixed(1)} ms`);
  for (const [name, ms] of parts) console.log(`    ${name.padEnd(18)} ${ms.toFixed(1).padStart(6)} ms`);
}
