// Which fingerprints the page submits for one file, with the hashbank signal type names.
'use strict';

/**
 * The fingerprints to submit for an image, as {type, value} with the hashbank signal names.
 * PDQ: the hash plus its dihedral variants (distinct ones), because a flipped or rotated copy
 * of the image has, as its plain PDQ, one of our variants: see docs/fingerprints.md for the
 * measured recall gain and the unchanged false-match rate. PDQ is left out when the image is
 * too small or too flat for a meaningful one (quality below 50, as python-threatexchange does).
 */
export function imageSignals(r) {
  const signals = [];
  if (r.pdq && r.pdq_quality >= 50) {
    const seen = new Set();
    for (const value of [r.pdq, ...(r.pdq_dihedral || [])]) {
      if (seen.has(value)) continue;
      seen.add(value);
      signals.push({ type: 'pdq', value });
    }
  }
  for (const type of ['phash', 'dhash', 'ahash', 'md5', 'sha256']) if (r[type]) signals.push({ type, value: r[type] });
  return signals;
}
