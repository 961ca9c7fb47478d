// The colour profile comes out of the copy the browser decodes (decode.js): JPEG APP2
// ICC_PROFILE segments, however many, and the WebP ICCP chunk with its VP8X flag, every other
// byte kept, and broken headers refused with a clear error instead of guessed at or looped on.
// That browsers then decode the stored colours is checked on real files in Chromium, Firefox
// and WebKit by tests/browser/test_fingerprint_browsers.py.
import test from 'node:test';
import assert from 'node:assert/strict';

import {
  ContainerError,
  decodeImage,
  forBrowser,
  jpegForBrowser,
  jpegInfo,
  jpegSegments,
  webpForBrowser,
} from '../../static/fingerprint/decode.js';

const bytes = (...parts) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : Array.from(p))));
const joined = (parts) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
const segment = (marker, payload) => bytes([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 255], payload);

// Display-profile-like payload split over two APP2 segments (sequence 1 and 2 of 2).
const profile = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 255);
const icc = (seq, count, data) => segment(0xe2, bytes('ICC_PROFILE\0', [seq, count], data));

// EXIF (big-endian) with orientation 6, the value at a known offset inside the segment.
const exif = segment(0xe1, bytes('Exif\0\0', 'MM', [0, 42, 0, 0, 0, 8], [0, 1], [0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0], [0, 0, 0, 0]));
const jfif = segment(0xe0, bytes('JFIF\0', [1, 1, 0, 0, 1, 0, 1, 0, 0]));
const mpf = segment(0xe2, bytes('MPF\0', [1, 2, 3, 4])); // another APP2: not a profile, kept
const dqt = segment(0xdb, bytes([0], Array.from({ length: 64 }, (_, i) => i + 1)));
const sof = (marker) => segment(marker, bytes([8, 0, 16, 0, 16, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]));
const dht = segment(0xc4, bytes([0], Array(16).fill(0).map((_, i) => (i === 0 ? 1 : 0)), [0]));
// The scan: entropy-coded data with stuffed bytes, and bytes that look like an ICC segment,
// which belong to the image and must never be touched.
const scan = bytes(segment(0xda, bytes([3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0])), [0x12, 0xff, 0x00, 0x34],
  icc(1, 1, [9, 9, 9]), [0x56, 0xff, 0xd9]);

function jpeg(...parts) {
  return bytes([0xff, 0xd8], ...parts.map((p) => Array.from(p)));
}

const without = (b, ranges) => {
  const keep = [];
  for (let i = 0; i < b.length; i++) if (!ranges.some(([s, e]) => i >= s && i < e)) keep.push(b[i]);
  return Uint8Array.from(keep);
};

function rangeOf(haystack, needle, from = 0) {
  for (let i = from; i + needle.length <= haystack.length; i++) {
    if (needle.every((v, k) => haystack[i + k] === v)) return [i, i + needle.length];
  }
  throw new Error('not found');
}

test('a profile in two APP2 segments is removed whole; every other byte is kept, the scans untouched', () => {
  const first = icc(1, 2, profile.subarray(0, 150));
  const second = icc(2, 2, profile.subarray(150));
  const file = jpeg(jfif, first, dqt, second, mpf, sof(0xc0), dht, scan);
  const out = jpegForBrowser(file);
  assert.equal(out.profileSegments, 2);
  const got = joined(out.parts);
  assert.deepEqual(got, without(file, [rangeOf(file, Array.from(first)), rangeOf(file, Array.from(second))]));
  // Nothing left that a decoder could read as a profile before the scan; the scan is as it was.
  const { segments, sos } = jpegSegments(got);
  assert.deepEqual(segments.map((s) => s.marker), [0xe0, 0xdb, 0xe2, 0xc0, 0xc4]);
  assert.equal(String.fromCharCode(...got.subarray(segments[2].start + 4, segments[2].start + 8)), 'MPF\0');
  assert.deepEqual(got.subarray(sos), scan);
  // The scans are passed on as a view of the file, not copied.
  assert.equal(out.parts.at(-1).buffer, file.buffer);
});

test('progressive: a profile after the frame header is removed too, with the orientation set to 1', () => {
  const one = icc(1, 1, profile);
  const file = jpeg(exif, dqt, sof(0xc2), one, dht, scan);
  const info = jpegInfo(file);
  assert.equal(info.orientation, 6);
  assert.equal(info.progressive, true);
  const out = jpegForBrowser(file, info);
  const want = without(file, [rangeOf(file, Array.from(one))]);
  want[info.orientationOffset + 1] = 1; // big-endian SHORT 6 -> 1, in the copy only
  assert.deepEqual(joined(out.parts), want);
  assert.equal(file[info.orientationOffset + 1], 6, 'the file itself is not changed');
  assert.equal(jpegInfo(joined(out.parts)).orientation, 1);
});

test('a JPEG with neither profile nor rotation is passed on as it is, not copied', () => {
  const file = jpeg(jfif, dqt, sof(0xc0), dht, scan);
  const out = jpegForBrowser(file);
  assert.equal(out.profileSegments, 0);
  assert.equal(out.parts.length, 1);
  assert.equal(out.parts[0], file);
  assert.deepEqual(forBrowser(file, 'png'), { parts: [file], profileSegments: 0 });
});

test('fill bytes and stray bytes between segments are skipped as libjpeg does, and kept', () => {
  const one = icc(1, 1, profile);
  const file = jpeg(jfif, [0xff, 0xff, 0xff], dqt, [0x00, 0x42, 0xff, 0x00], one, sof(0xc0), dht, scan);
  const out = jpegForBrowser(file);
  assert.equal(out.profileSegments, 1);
  assert.deepEqual(joined(out.parts), without(file, [rangeOf(file, Array.from(one))]));
});

test('an APP2 segment too short to name a profile, or naming another, is not a profile', () => {
  const short = segment(0xe2, bytes('ICC_PROF'));
  const other = segment(0xe2, bytes('ICC_PROFILX\0', [1, 1], [1, 2, 3]));
  const file = jpeg(short, other, sof(0xc0), dht, scan);
  const out = jpegForBrowser(file);
  assert.equal(out.profileSegments, 0);
  assert.equal(out.parts[0], file);
});

test('a header cut short anywhere is an error, never a guess or a hang', () => {
  const file = jpeg(jfif, exif, icc(1, 2, profile.subarray(0, 150)), dqt, icc(2, 2, profile.subarray(150)), sof(0xc0), dht, scan);
  const { sos } = jpegSegments(file);
  for (let n = 2; n <= sos + 1; n++) {
    assert.throws(() => jpegForBrowser(file.subarray(0, n)), ContainerError, `cut at ${n}`);
  }
  assert.throws(() => jpegSegments(jpeg(segment(0xe0, bytes('JFIF\0')), [0xff, 0xd9])), /ends before its image data/);
  assert.throws(() => jpegSegments(jpeg([0xff, 0xe2, 0x00, 0x01], sof(0xc0), scan)), /impossible length/);
  assert.throws(() => jpegSegments(bytes('GIF89a')), /not a JPEG/);
});

test('any bytes at all: the header walk ends, with segments or with a ContainerError', () => {
  let seed = 12345;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 24;
  };
  for (let round = 0; round < 3000; round++) {
    const b = new Uint8Array(2 + (random() % 64));
    b[0] = 0xff;
    b[1] = 0xd8;
    for (let i = 2; i < b.length; i++) b[i] = random() < 96 ? 0xff : random();
    try {
      const { segments, sos } = jpegSegments(b);
      assert.ok(sos < b.length && segments.every((s) => s.end <= sos));
    } catch (e) {
      assert.ok(e instanceof ContainerError, String(e));
    }
  }
});

test('decodeImage refuses a JPEG whose header is cut short as damaged, before any decoding', async () => {
  const file = jpeg(jfif, icc(1, 1, profile), sof(0xc0), dht, scan);
  await assert.rejects(decodeImage(file.subarray(0, 40)), (e) => e.code === 'corrupt' && /damaged/.test(e.message) && /truncated/.test(e.detail));
});

// --- WebP ---------------------------------------------------------------------------------

const le32 = (v) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
const chunk = (fourcc, data) => bytes(fourcc, le32(data.length), data, data.length & 1 ? [0] : []);

function riff(...chunks) {
  const body = joined(chunks);
  return bytes('RIFF', le32(4 + body.length), 'WEBP', body);
}

const vp8x = (flags) => chunk('VP8X', bytes([flags, 0, 0, 0], [15, 0, 0], [15, 0, 0]));
const vp8l = chunk('VP8L', bytes([0x2f, 0x0f, 0xc0, 0x03, 0x00, 0x07, 0x10, 0x11, 0x88, 0x88, 0xfe, 0x07, 0x00]));

test('WebP: the ICCP chunk goes (odd size, padded), the ICC flag is cleared, the RIFF size fixed, the rest kept', () => {
  const iccp = chunk('ICCP', profile.subarray(0, 201)); // odd: one pad byte
  const exifChunk = chunk('EXIF', bytes('MM', [0, 42, 0, 0, 0, 8, 0, 0]));
  const file = riff(vp8x(0x20 | 0x10 | 0x08), iccp, chunk('ALPH', bytes([0, 1, 2])), vp8l, exifChunk);
  const out = webpForBrowser(file);
  assert.equal(out.profileSegments, 1);
  const got = joined(out.parts);
  const want = without(file, [rangeOf(file, Array.from(iccp))]);
  want[20] = 0x10 | 0x08; // alpha and EXIF flags kept
  want.set(le32(want.length - 8), 4);
  assert.deepEqual(got, want);
  assert.equal(iccp.length, 8 + 201 + 1);
  assert.equal(new DataView(got.buffer).getUint32(4, true), got.length - 8);
});

test('WebP without a profile: simple files and VP8X files without one are passed on as they are', () => {
  const simple = riff(vp8l);
  assert.equal(webpForBrowser(simple).parts[0], simple);
  const extended = riff(vp8x(0x10), chunk('ALPH', bytes([0])), vp8l);
  assert.deepEqual(webpForBrowser(extended), { parts: [extended], profileSegments: 0 });
  // The flag without its chunk: cleared, so no decoder goes looking for a profile.
  const flagOnly = riff(vp8x(0x20), vp8l);
  const out = webpForBrowser(flagOnly);
  assert.equal(out.profileSegments, 0);
  assert.equal(joined(out.parts)[20], 0);
  assert.equal(joined(out.parts).length, flagOnly.length);
});

test('WebP: a profile chunk cut short, or a header cut short, is an error', () => {
  const file = riff(vp8x(0x20), chunk('ICCP', profile), vp8l);
  for (const n of [13, 19, 25, 30, 37, 100, 30 + 8 + profile.length - 1]) {
    assert.throws(() => webpForBrowser(file.subarray(0, n)), ContainerError, `cut at ${n}`);
  }
  assert.throws(() => webpForBrowser(bytes('RIFF', le32(4), 'AVI ')), /not a WebP/);
});
