// Which fingerprints the page submits for one file, with the hashbank signal type names.
'use strict';

/**
 * The fingerprints to submit for an image, as {type, value} (PDQ ones also carry their
 * `quality`) with the hashbank signal names. PDQ: the hash plus its dihedral variants
 * (distinct ones), because a flipped or rotated copy of the image has, as its plain PDQ, one
 * of our variants; then the PDQs of the central 95%, 92.5%, 90% and 80% crops, and of the
 * image with 10% and 20% cut off each side, each of those with its mirror, because a copy
 * cropped so (and mirrored) has, as its plain PDQ, one close to them. docs/fingerprints.md has
 * the measured recall gain and the false-match rate. A PDQ is left out when too flat for a
 * meaningful one (quality below 50, as python-threatexchange does). At most 33 values: 28 PDQ
 * + phash, dhash, ahash, md5, sha256 (the server takes up to MAX_FINGERPRINTS_PER_FILE, 40).
 */
export function imageSignals(r) {
  const signals = [];
  const seen = new Set();
  const addPdq = (value, quality) => {
    if (!value || quality < 50 || seen.has(value)) return;
    seen.add(value);
    signals.push({ type: 'pdq', value, quality });
  };
  if (r.pdq && r.pdq_quality >= 50) {
    for (const value of [r.pdq, ...(r.pdq_dihedral || [])]) addPdq(value, r.pdq_quality);
    for (const c of r.pdq_crops || []) {
      addPdq(c.pdq, c.quality);
      if (c.mirror) addPdq(c.mirror, c.quality);
    }
  }
  for (const type of ['phash', 'dhash', 'ahash', 'md5', 'sha256']) if (r[type]) signals.push({ type, value: r[type] });
  return signals;
}

/** A video's fingerprints: exact digests of the file only (no browser computes vPDQ exactly). */
export function videoSignals(r) {
  return [{ type: 'video_md5', value: r.md5 }, { type: 'sha256', value: r.sha256 }];
}
