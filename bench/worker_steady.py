"""The WebAssembly engine run again and again inside the real fingerprinting worker.

    .venv/bin/python bench/worker_steady.py [--runs 12] [--sizes 4000x3000,1632x1224]

fingerprint_bench.py times whole files, so its medians include the first runs, while V8 is
still tiering the kernels up. This starts the site's worker in headless Chromium (its scripts
served with the site's worker policy), then times fingerprintPixels on the same synthetic
pixels `--runs` times in a row inside that worker, and prints every run, so the settling-in
can be seen. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fingerprint_bench import _load, serve  # noqa: E402

from tests.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402

START_WORKER = """async () => {
  const { fingerprintFile } = await import('/static/fingerprint/index.js');
  const canvas = new OffscreenCanvas(64, 64);
  canvas.getContext('2d').fillRect(0, 0, 9, 9);
  await fingerprintFile(new File([await canvas.convertToBlob()], 'start.png'));
}"""

REPEAT = """async ([W, H, runs]) => {
  const { fingerprintPixels } = await import('/static/fingerprint/pixels.js');
  const data = new Uint8ClampedArray(W * H * 4);
  let s = 1;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ((i >> 2) % W * 255 / W + (s >>> 29)) & 255;
  }
  const times = [];
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    fingerprintPixels({ width: W, height: H, data }, { engine: 'wasm' });
    times.push(performance.now() - t0);
  }
  return times;
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--sizes", default="4000x3000,1632x1224")
    args = parser.parse_args()
    path = chromium_path()
    if not path:
        print("Chromium not found (set CHROMIUM_PATH)")
        return 1
    from playwright.sync_api import sync_playwright

    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmpdir:
        server, base = serve(Path(tmpdir))
        print(f"Chromium {path}; load average {_load()}; {args.runs} runs in a row in the fingerprinting worker\n")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            workers = []
            page.on("worker", lambda w: workers.append(w))
            page.goto(base + "/")
            page.evaluate(START_WORKER)
            worker = next(w for w in workers if "/fingerprint/worker" in w.url)
            for width, height in sizes:
                times = worker.evaluate(REPEAT, [width, height, args.runs])
                print(f"  {width}x{height} ({width * height / 1e6:.1f} MP): "
                      + ", ".join(f"{t:.0f}" for t in times) + " ms")
            browser.close()
        server.shutdown()
    print(f"load average at the end {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
