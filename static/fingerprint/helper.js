// The second fingerprinting worker, started by worker.js (a nested module worker) on devices
// with at least two cores. It receives Pillow 'L' grey values of the lower rows of an image
// (a quarter of their RGBA size, transferred, not copied) and returns its share of the
// imagehash resizes, while the first worker computes PDQ and the upper rows' share.
//
// Protocol: worker -> helper {job, width, height, y0, y1, gray: Uint8Array of rows [y0, y1)}
//           helper -> worker {job, part, ms} or {job, error}   (ms: time it worked)
// It is terminated with its parent worker, so cancelling a file stops it too.
'use strict';

import { imagehashPartFromGray } from './pixels.js';

self.onmessage = (event) => {
  const { job, width, height, y0, y1, gray } = event.data || {};
  let part;
  const t0 = performance.now();
  try {
    part = imagehashPartFromGray({ width, height, gray }, y0, y1);
  } catch (e) {
    self.postMessage({ job, error: String((e && e.message) || e) });
    return;
  }
  const transfer = [];
  for (const share of Object.values(part.parts)) transfer.push((share.rows || share.sums).buffer);
  self.postMessage({ job, part, ms: performance.now() - t0 }, transfer);
};
