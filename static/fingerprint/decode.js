// From a file's bytes to the RGBA pixels the references hash (Pillow's Image.open(f), frame 0,
// no EXIF rotation, no colour management, alpha not premultiplied), or a clear refusal.
//
// Routes, chosen by the file's first bytes (never by its name or MIME type):
//   PNG, GIF          -> our own decoders (png.js, gif.js): exact, transparency included.
//   JPEG, WebP, BMP   -> createImageBitmap(blob, {colorSpaceConversion: 'none',
//                        premultiplyAlpha: 'none'}) drawn 1:1 on an OffscreenCanvas. Chromium
//                        decodes JPEG with libjpeg-turbo (ISLOW, fancy upsampling) like Pillow.
//                        Whether this browser's decoders reproduce Pillow is not assumed: a
//                        tiny JPEG and a tiny lossy WebP with chroma subsampling, whose Pillow
//                        pixels are known, are decoded first; a format whose probe differs is
//                        still fingerprinted but flagged `exact: false`.
//   (WebCodecs ImageDecoder was measured and rejected: in Chromium 156 it hands colour JPEG and
//   WebP over as YUV and converts them without fancy upsampling, up to 57 levels away from
//   Pillow, although it would have kept the stored orientation.)
// Chromium 156 applies EXIF orientation in createImageBitmap even with imageOrientation 'none'
// (checked), so the JPEG orientation tag is patched to 1 in a copy of the header first.
// WebKit applies a JPEG's colour profile (ICC: Display P3, as iPhones write) even with
// colorSpaceConversion 'none' (checked in WebKitGTK 2.50: PDQ 2 to 6 bits off), and Pillow
// ignores it, so the profile is removed in that same header copy (every JPEG APP2 ICC_PROFILE
// segment; likewise the WebP ICCP chunk and its VP8X flag, which no engine here applied, but an
// engine may). Probes that carry a Display P3 profile go through the same path at start-up: a
// browser that still converts colours is flagged inexact for files with a profile, never
// silently different. PNGs never reach the browser's decoder (png.js ignores iCCP and gAMA).
// Anything partly transparent that went through the browser's decoder is flagged inexact: the
// canvas premultiplies alpha and loses the stored colour the references hash.
//
// Orientation rule: we fingerprint the pixels as stored, ignoring EXIF orientation, exactly as
// pdqhash and imagehash do on the raw file. A platform that rotates by EXIF before hashing
// gets one of our eight PDQ dihedral variants, so PDQ matching still works both ways.
'use strict';

import { decodeGif, GifError, gifSize, isGif } from './gif.js';
import { decodeHeic, HeicError } from './heic.js';
import { decodePng, isPng, parsePng, PngError } from './png.js';

// A decoded image costs 4 bytes a pixel; above this we refuse instead of crashing the tab.
// 100 megapixels = 400 MB of RGBA, beyond any phone camera and most canvases.
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** A refusal the page can show as is: `code` for logic, `message` for people. */
export class FingerprintFileError extends Error {
  constructor(code, message, detail) {
    super(message);
    this.name = 'FingerprintFileError';
    this.code = code;
    if (detail) this.detail = detail;
  }
}

export const MESSAGES = {
  empty: 'This file is empty, so there is nothing to fingerprint.',
  corrupt: 'This file could not be read. It may be damaged or only partly downloaded. If you can open it on your device, try saving a fresh copy and adding that instead.',
  unsupported: 'This type of file cannot be fingerprinted in this browser. Photos (JPEG, PNG, GIF, WebP) and videos work everywhere.',
  tooLarge: 'This image is too large for this device to fingerprint safely. A computer with more memory may be able to do it.',
  noise: 'Your browser changes image data slightly to protect your privacy (for example Brave, Firefox with strict tracking protection, or Safari private browsing). The fingerprints would not match, so we stopped. Please allow this site to read canvas data, or use another browser, and try again.',
};

function u16be(b, o) {
  return (b[o] << 8) | b[o + 1];
}

function ascii(b, o, n) {
  let s = '';
  for (let i = 0; i < n && o + i < b.length; i++) s += String.fromCharCode(b[o + i]);
  return s;
}

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/**
 * What the bytes are: {kind: 'image'|'video'|'unknown', format, mime}.
 * Only the first few bytes are needed (pass at least 32).
 */
export function sniff(b) {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return { kind: 'image', format: 'jpeg', mime: 'image/jpeg' };
  if (isPng(b)) return { kind: 'image', format: 'png', mime: 'image/png' };
  if (isGif(b)) return { kind: 'image', format: 'gif', mime: 'image/gif' };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return { kind: 'image', format: 'webp', mime: 'image/webp' };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'AVI ') return { kind: 'video', format: 'avi', mime: 'video/x-msvideo' };
  if (b[0] === 0x42 && b[1] === 0x4d) return { kind: 'image', format: 'bmp', mime: 'image/bmp' };
  if (ascii(b, 4, 4) === 'ftyp') {
    const brands = [ascii(b, 8, 4)];
    for (let o = 16; o + 4 <= Math.min(b.length, 8 + u16be(b, 2)); o += 4) brands.push(ascii(b, o, 4));
    if (brands.some((x) => AVIF_BRANDS.has(x))) return { kind: 'image', format: 'avif', mime: 'image/avif' };
    if (brands.some((x) => HEIF_BRANDS.has(x))) return { kind: 'image', format: 'heic', mime: 'image/heic' };
    return { kind: 'video', format: brands[0] === 'qt  ' ? 'mov' : 'mp4', mime: 'video/mp4' };
  }
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return { kind: 'video', format: 'webm', mime: 'video/webm' };
  if ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a) || (b[0] === 0x4d && b[1] === 0x4d && b[3] === 0x2a)) {
    return { kind: 'image', format: 'tiff', mime: 'image/tiff' };
  }
  return { kind: 'unknown', format: 'unknown', mime: '' };
}

/**
 * JPEG header facts: size, components (4 = CMYK/YCCK), progressive, and the EXIF orientation
 * with the byte offset of its value (so the fallback path can neutralise it).
 */
export function jpegInfo(b) {
  const info = { width: 0, height: 0, components: 0, progressive: false, orientation: 1, orientationOffset: -1 };
  let pos = 2;
  while (pos + 4 <= b.length) {
    if (b[pos] !== 0xff) {
      pos++;
      continue;
    }
    const marker = b[pos + 1];
    if (marker === 0xff) {
      pos++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break;
    const len = u16be(b, pos + 2);
    const seg = pos + 4;
    if (marker === 0xe1 && ascii(b, seg, 6) === 'Exif\0\0') readExifOrientation(b, seg + 6, seg + len - 2, info);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      info.height = u16be(b, seg + 1);
      info.width = u16be(b, seg + 3);
      info.components = b[seg + 5];
      info.progressive = marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce;
      break;
    }
    pos = seg + len - 2;
  }
  return info;
}

function readExifOrientation(b, tiff, end, info) {
  const le = b[tiff] === 0x49;
  const r16 = (o) => (le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]);
  const r32 = (o) => (le ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0 : ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0);
  if (tiff + 8 > end) return;
  const ifd = tiff + r32(tiff + 4);
  if (ifd + 2 > end) return;
  const n = r16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > end) return;
    if (r16(e) === 0x0112) {
      info.orientation = r16(e + 8);
      info.orientationOffset = e + 8;
      info.orientationLittleEndian = le;
      return;
    }
  }
}

// --- colour profiles out of the header copy -------------------------------------------------

/** A file whose structure is broken before its image data (shown as "damaged"). */
export class ContainerError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ContainerError';
  }
}

/**
 * The marker segments of a JPEG before its first scan: {segments: [{marker, start, end}], sos},
 * `sos` being the offset of the first SOS marker (the scans start there and are never
 * rewritten). Bytes between segments that are not markers are skipped as libjpeg skips them
 * (and kept by the callers). A header cut short is an error, never a guess; every step moves
 * forward, so no input can make it loop.
 */
export function jpegSegments(b) {
  if (!(b.length >= 2 && b[0] === 0xff && b[1] === 0xd8)) throw new ContainerError('not a JPEG file');
  const segments = [];
  let pos = 2;
  for (;;) {
    while (pos < b.length && b[pos] !== 0xff) pos++;
    while (pos + 1 < b.length && b[pos + 1] === 0xff) pos++; // fill bytes
    if (pos + 1 >= b.length) throw new ContainerError('the JPEG header ends before its image data (the file looks truncated)');
    const marker = b[pos + 1];
    if (marker === 0xda) return { segments, sos: pos };
    if (marker === 0xd9) throw new ContainerError('the JPEG ends before its image data');
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      pos += 2; // a stuffed zero (stray data) or a marker without a length
      continue;
    }
    if (pos + 4 > b.length) throw new ContainerError('the JPEG header is cut short (the file looks truncated)');
    const length = u16be(b, pos + 2);
    if (length < 2) throw new ContainerError(`a JPEG marker segment (0xFF${marker.toString(16).toUpperCase()}) has an impossible length`);
    const end = pos + 2 + length;
    if (end > b.length) throw new ContainerError('a JPEG marker segment is cut short (the file looks truncated)');
    segments.push({ marker, start: pos, end });
    pos = end;
  }
}

const ICC_JPEG_ID = 'ICC_PROFILE\0';

function isIccSegment(b, s) {
  return s.marker === 0xe2 && s.end - s.start >= 4 + ICC_JPEG_ID.length && ascii(b, s.start + 4, ICC_JPEG_ID.length) === ICC_JPEG_ID;
}

/**
 * What the browser gets of a JPEG: its bytes without the ICC profile (every APP2 ICC_PROFILE
 * segment, however many the profile spans) and with the EXIF orientation set to 1, both in a
 * copy of the header before the first scan; every other byte is kept as it is and the scans
 * are not copied. {parts: [Uint8Array...] for a Blob, profileSegments}.
 * `info` is jpegInfo(b) (for the orientation tag's offset).
 */
export function jpegForBrowser(b, info = jpegInfo(b)) {
  const { segments, sos } = jpegSegments(b);
  const icc = segments.filter((s) => isIccSegment(b, s));
  const rotate = info.orientation !== 1 && info.orientationOffset >= 0 && info.orientationOffset + 2 <= sos;
  if (!icc.length && !rotate) return { parts: [b], profileSegments: 0 };
  const head = b.slice(0, sos);
  if (rotate) {
    const le = info.orientationLittleEndian;
    head[info.orientationOffset] = le ? 1 : 0;
    head[info.orientationOffset + 1] = le ? 0 : 1;
  }
  const parts = [];
  let from = 0;
  for (const s of icc) {
    if (s.start > from) parts.push(head.subarray(from, s.start));
    from = s.end;
  }
  parts.push(head.subarray(from), b.subarray(sos));
  return { parts, profileSegments: icc.length };
}

function u32le(b, o) {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

const WEBP_ICC_FLAG = 0x20; // VP8X flags: reserved(2) ICC alpha EXIF XMP animation reserved
const WEBP_IMAGE_CHUNKS = new Set(['VP8 ', 'VP8L', 'ALPH', 'ANIM', 'ANMF']);

/**
 * What the browser gets of a WebP: without its ICCP chunk, the VP8X ICC flag cleared and the
 * RIFF size reduced to match; every other byte as it is (a simple, non-VP8X WebP cannot carry
 * a profile and is passed on unchanged). {parts, profileSegments}.
 */
export function webpForBrowser(b) {
  if (!(b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP')) throw new ContainerError('not a WebP file');
  if (b.length < 20) throw new ContainerError('the WebP header is cut short (the file looks truncated)');
  if (ascii(b, 12, 4) !== 'VP8X') return { parts: [b], profileSegments: 0 };
  const vp8xSize = u32le(b, 16);
  let pos = 20 + vp8xSize + (vp8xSize & 1);
  if (vp8xSize < 10 || pos > b.length) throw new ContainerError('the WebP header is cut short (the file looks truncated)');
  const drop = [];
  // The profile comes before the image data (WebP container spec); only those chunks are read.
  for (;;) {
    if (pos + 8 > b.length) throw new ContainerError('the WebP ends before its image data (the file looks truncated)');
    const fourcc = ascii(b, pos, 4);
    if (WEBP_IMAGE_CHUNKS.has(fourcc)) break;
    const size = u32le(b, pos + 4);
    const end = pos + 8 + size + (size & 1);
    if (pos + 8 + size > b.length) throw new ContainerError(`the WebP ${fourcc.trim()} chunk is cut short (the file looks truncated)`);
    if (fourcc === 'ICCP') drop.push([pos, Math.min(end, b.length)]);
    pos = end;
  }
  if (!drop.length && !(b[20] & WEBP_ICC_FLAG)) return { parts: [b], profileSegments: 0 };
  const head = b.slice(0, 20 + vp8xSize + (vp8xSize & 1));
  head[20] &= ~WEBP_ICC_FLAG;
  const removed = drop.reduce((n, [s, e]) => n + e - s, 0);
  new DataView(head.buffer).setUint32(4, Math.max(4, u32le(b, 4) - removed), true);
  const parts = [head];
  let from = head.length;
  for (const [s, e] of drop) {
    if (s > from) parts.push(b.subarray(from, s));
    from = e;
  }
  parts.push(b.subarray(from));
  return { parts, profileSegments: drop.length };
}

/** The bytes the browser's decoder is given for `format`: {parts, profileSegments}. */
export function forBrowser(bytes, format, info) {
  if (format === 'jpeg') return jpegForBrowser(bytes, info);
  if (format === 'webp') return webpForBrowser(bytes);
  return { parts: [bytes], profileSegments: 0 };
}

// --- the canary ----------------------------------------------------------------------------

// A 4x4 24-bit BMP with distinct colours: decoding it must give exactly these values. BMP is
// lossless and colour-management free, so any change is the browser adding noise.
function canaryPixels() {
  const px = [];
  for (let i = 0; i < 16; i++) px.push([(i * 53 + 7) & 255, (i * 97 + 31) & 255, (i * 151 + 201) & 255]);
  return px;
}

function canaryBmp() {
  const w = 4;
  const h = 4;
  const rowBytes = w * 3; // 12, already a multiple of 4
  const size = 54 + rowBytes * h;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  b[0] = 0x42;
  b[1] = 0x4d;
  dv.setUint32(2, size, true);
  dv.setUint32(10, 54, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, w, true);
  dv.setInt32(22, -h, true); // top-down rows
  dv.setUint16(26, 1, true);
  dv.setUint16(28, 24, true);
  dv.setUint32(34, rowBytes * h, true);
  const px = canaryPixels();
  for (let i = 0; i < 16; i++) {
    const o = 54 + i * 3;
    b[o] = px[i][2];
    b[o + 1] = px[i][1];
    b[o + 2] = px[i][0];
  }
  return b;
}

function sameAsCanary(data) {
  const px = canaryPixels();
  for (let i = 0; i < 16; i++) {
    if (data[i * 4] !== px[i][0] || data[i * 4 + 1] !== px[i][1] || data[i * 4 + 2] !== px[i][2]) return false;
  }
  return true;
}

// Probes of the browser's own decoders: files whose Pillow pixels are known (16x16 colour
// pattern, 4:2:0 chroma, and an Adobe CMYK JPEG; made with Pillow 13.0.0), checked by FNV-1a of the RGB bytes.
// jpegIcc and webpIcc carry a Display P3 profile (ICC v4, 532 bytes, built like Apple's by
// tests/browser/fingerprint_corpus.py icc_profile()) and, for the JPEG, the EXIF colour space
// 'uncalibrated' that phones write with it; applying that profile would move their colours by
// up to 86 levels. They are decoded exactly as files are, profile removed first, so they catch
// a browser that still converts colours (tests/browser/test_fingerprint_browsers.py checks they can fail).
const PROBES = {
  jpeg: {
    mime: 'image/jpeg',
    format: 'jpeg',
    fnv: 0x8eabde05,
    b64: '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDhdI0Dytvyf/Wr0vTNEW1iMsi4RFLMcfdAq3b2un6NEsl/cw26lSyiRgCQOu0dWPI4FZ+reONM0vSLn+zbKW+bAQs37pNrcEgnLZ5xyB/iYjFV8FLlppy5vko/PVO9/lb7jKMZia1GVWlFtRTflou+i/E//9k=',
  },
  cmyk: {
    mime: 'image/jpeg',
    format: 'jpeg',
    fnv: 0xfe1bbce7,
    b64: '/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwAIBgYHBgUIBwcHCQkICgwUDQwLCwwZEhMPFB0aHx4dGhwcICQuJyAiLCMcHCg3KSwwMTQ0NB8nOT04MjwuMzQy/8AAFAgAEAAQBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkASwAAPwDgfB1t/q+K4iw8HdP3f6V51/yK3/TTzP8AgPkY/Pduz+GPy9/r3nw7Lb6Zp01/eP5draxNNM+0naijLHA5OAD0rqLDwd0/d/pX0T/yK3/TTzP+A+Rj8927P4Y/Irx7wdbf6vivRbyy0Xw3brPrOoWlihRnQTyBWkCjLbF6uRkcKCeR60f8it/008z/AID5GPz3bs/hj8ivTfFVzNpXwr1y4gSNne3FuQ4JG2V1iY8Ec7XJHvjr0rl9Q+LXhzT38rRdLu9WdXUeY3+jxMpXJKlgXyDgYKDvz0z87f8AIrf9NPM/4D5GPz3bs/hj8iv/2Q==',
  },
  webp: {
    mime: 'image/webp',
    format: 'webp',
    fnv: 0x9d3600d4,
    b64: 'UklGRqIAAABXRUJQVlA4IJYAAADwAgCdASoQABAAAgA0JbACdLoAs8DJFCIAJJ/MupurAAD+/SW58xaWMqDae9myJEBmZXgNdlcphIdUtEPfFyPc1X3Ruwpmy6vsXUQ+YH37219vJ3H9lz4o35i7L8aTr/zM73Lx/WdsUSbz9YWcydeVr4uuz5OlVYh/v2H7veN0NX7fyvbLftLl3sK7WpOfvz//iiGGiAA=',
  },
  jpegIcc: {
    mime: 'image/jpeg',
    format: 'jpeg',
    fnv: 0xf1913e89,
    b64: '/9j/4AAQSkZJRgABAQAAAQABAAD/4QA0RXhpZgAATU0AKgAAAAgAAYdpAAQAAAABAAAAGgAAAAAAAaABAAMAAAAB//8AAAAAAAD/4gIkSUNDX1BST0ZJTEUAAQEAAAIUbGNtcwQwAABtbnRyUkdCIFhZWiAH5gABAAEAAAAAAABhY3NwQVBQTAAAAABBUFBMAAAAAAAAAAAAAAAAAAAAAAAA9tYAAQAAAADTLWxjbXMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAApkZXNjAAAA/AAAADBjcHJ0AAABLAAAAEx3dHB0AAABeAAAABRjaGFkAAABjAAAACxyWFlaAAABuAAAABRnWFlaAAABzAAAABRiWFlaAAAB4AAAABRyVFJDAAAB9AAAACBnVFJDAAAB9AAAACBiVFJDAAAB9AAAACBtbHVjAAAAAAAAAAEAAAAMZW5VUwAAABQAAAAcAEQAaQBzAHAAbABhAHkAIABQADNtbHVjAAAAAAAAAAEAAAAMZW5VUwAAADAAAAAcAE4AbwAgAGMAbwBwAHkAcgBpAGcAaAB0ACwAIAB1AHMAZQAgAGYAcgBlAGUAbAB5WFlaIAAAAAAAAPbWAAEAAAAA0y1zZjMyAAAAAAABDEIAAAXe///zJQAAB5MAAP2Q///7of///aIAAAPcAADAblhZWiAAAAAAAACD3wAAPb////+7WFlaIAAAAAAAAEq/AACxNwAACrlYWVogAAAAAAAAKDgAABELAADIuXBhcmEAAAAAAAMAAAACZmYAAPKnAAANWQAAE9AAAApb/9sAQwADAgIDAgIDAwMDBAMDBAUIBQUEBAUKBwcGCAwKDAwLCgsLDQ4SEA0OEQ4LCxAWEBETFBUVFQwPFxgWFBgSFBUU/9sAQwEDBAQFBAUJBQUJFA0LDRQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU/8AAEQgAEAAQAwEiAAIRAQMRAf/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/EAB8BAAMBAQEBAQEBAQEAAAAAAAABAgMEBQYHCAkKC//EALURAAIBAgQEAwQHBQQEAAECdwABAgMRBAUhMQYSQVEHYXETIjKBCBRCkaGxwQkjM1LwFWJy0QoWJDThJfEXGBkaJicoKSo1Njc4OTpDREVGR0hJSlNUVVZXWFlaY2RlZmdoaWpzdHV2d3h5eoKDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uLj5OXm5+jp6vLz9PX29/j5+v/aAAwDAQACEQMRAD8A6LRvFflbYYH+fozg/d9h713Wj+K/K2wwv8/RnB+77D3r5h0fxX5W2GF/n6M4/h9h713WjeK/K2wwP8/RnB+77D3r53HZPy30tb3fd6f3Id5P7Uunlb3eXhbIPh0/rzP/2Q==',
  },
  webpIcc: {
    mime: 'image/webp',
    format: 'webp',
    fnv: 0x626851c5,
    b64: 'UklGRnICAABXRUJQVlA4WAoAAAAgAAAABwAABwAASUNDUBQCAAAAAAIUbGNtcwQwAABtbnRyUkdCIFhZWiAH5gABAAEAAAAAAABhY3NwQVBQTAAAAABBUFBMAAAAAAAAAAAAAAAAAAAAAAAA9tYAAQAAAADTLWxjbXMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAApkZXNjAAAA/AAAADBjcHJ0AAABLAAAAEx3dHB0AAABeAAAABRjaGFkAAABjAAAACxyWFlaAAABuAAAABRnWFlaAAABzAAAABRiWFlaAAAB4AAAABRyVFJDAAAB9AAAACBnVFJDAAAB9AAAACBiVFJDAAAB9AAAACBtbHVjAAAAAAAAAAEAAAAMZW5VUwAAABQAAAAcAEQAaQBzAHAAbABhAHkAIABQADNtbHVjAAAAAAAAAAEAAAAMZW5VUwAAADAAAAAcAE4AbwAgAGMAbwBwAHkAcgBpAGcAaAB0ACwAIAB1AHMAZQAgAGYAcgBlAGUAbAB5WFlaIAAAAAAAAPbWAAEAAAAA0y1zZjMyAAAAAAABDEIAAAXe///zJQAAB5MAAP2Q///7of///aIAAAPcAADAblhZWiAAAAAAAACD3wAAPb////+7WFlaIAAAAAAAAEq/AACxNwAACrlYWVogAAAAAAAAKDgAABELAADIuXBhcmEAAAAAAAMAAAACZmYAAPKnAAANWQAAE9AAAApbVlA4TDgAAAAvB8ABALmM6H/sIqL/oUDQtm3GH9UhDc7uCARSHMNOCwQSnXDGGjvi3cQ0WoRciDXCETohF+IjAA==',
  },
};

function fnvRgb(data) {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    if ((i & 3) === 3) continue;
    h = Math.imul(h ^ data[i], 0x01000193) >>> 0;
  }
  return h;
}

function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

let probeResult = null;

/**
 * Check this browser once per worker: {faithful, canvas, exact: {jpeg, cmyk, webp, jpegIcc,
 * webpIcc}}. `faithful` is false when a known pattern comes back altered from the canvas
 * (anti-fingerprinting noise); then nothing is hashed. `exact.<probe>` says whether its
 * decoder reproduces Pillow's pixels; `jpegIcc`/`webpIcc`: also for files with a colour profile.
 */
export function probeBrowser() {
  if (!probeResult) {
    probeResult = (async () => {
      if (typeof OffscreenCanvas === 'undefined' || typeof createImageBitmap === 'undefined') {
        return { faithful: true, canvas: false, exact: {} };
      }
      // putImageData/getImageData of an opaque pattern must be an identity, and so must a
      // lossless BMP decoded and drawn the way real files are.
      const canvas = new OffscreenCanvas(4, 4);
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      const img = ctx.createImageData(4, 4);
      canaryPixels().forEach(([r, g, bl], i) => img.data.set([r, g, bl, 255], i * 4));
      ctx.putImageData(img, 0, 0);
      let faithful = sameAsCanary(ctx.getImageData(0, 0, 4, 4).data);
      if (faithful) faithful = sameAsCanary((await decodeWithCanvas(new Blob([canaryBmp()], { type: 'image/bmp' }))).data);
      const exact = {};
      for (const [format, probe] of Object.entries(PROBES)) {
        try {
          const bytes = fromBase64(probe.b64);
          const { parts } = forBrowser(bytes, probe.format);
          const { data } = await decodeWithCanvas(new Blob(parts, { type: probe.mime }));
          exact[format] = fnvRgb(data) === probe.fnv;
        } catch {
          exact[format] = false;
        }
      }
      return { faithful, canvas: true, exact };
    })().catch(() => ({ faithful: false, canvas: true, exact: {} }));
  }
  return probeResult;
}

// --- the browser's decoder ---------------------------------------------------------------------

async function decodeWithCanvas(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width, height } = bitmap;
  let canvas;
  try {
    canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
    if (!ctx) throw new FingerprintFileError('too-large', MESSAGES.tooLarge, `no canvas of ${width}x${height}`);
    ctx.drawImage(bitmap, 0, 0); // 1:1, never scaled
    bitmap.close(); // release the decoded bitmap before the pixels are copied out
    const { data } = ctx.getImageData(0, 0, width, height);
    return { width, height, data };
  } finally {
    bitmap.close();
    if (canvas) canvas.width = canvas.height = 0; // free the backing store before hashing
  }
}

function anyTransparency(data) {
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 255) return true;
  return false;
}

function wrap(e, format) {
  if (e instanceof FingerprintFileError) return e;
  if (e && e.code === 'too-large') return new FingerprintFileError('too-large', MESSAGES.tooLarge, e.message);
  if (e instanceof HeicError && e.code === 'too-large') return new FingerprintFileError('too-large', MESSAGES.tooLarge, e.message);
  if (e instanceof PngError || e instanceof GifError || e instanceof ContainerError || e instanceof HeicError) {
    return new FingerprintFileError('corrupt', MESSAGES.corrupt, e.message);
  }
  if (e && (e.name === 'RangeError' || /memory|allocation|too large/i.test(String(e.message)))) {
    return new FingerprintFileError('too-large', MESSAGES.tooLarge, String(e.message));
  }
  return new FingerprintFileError('corrupt', MESSAGES.corrupt, `${format}: ${e && e.message ? e.message : e}`);
}

/**
 * Decode an image file's bytes.
 * @param {Uint8Array} bytes the whole file
 * @returns {Promise<{width:number, height:number, data:Uint8ClampedArray, format:string,
 *   exact:boolean, orientation:number, warnings:string[], decoder:string}>}
 */
export async function decodeImage(bytes, { maxPixels = DEFAULT_MAX_PIXELS } = {}) {
  if (!bytes.length) throw new FingerprintFileError('empty', MESSAGES.empty);
  const kind = sniff(bytes);
  const warnings = [];
  if (kind.kind !== 'image' || kind.format === 'tiff') throw new FingerprintFileError('unsupported', MESSAGES.unsupported, kind.format);

  try {
    if (kind.format === 'png') {
      const r = await decodePng(bytes, { maxPixels });
      return { ...pick(r), format: 'png', exact: true, orientation: 1, warnings: r.warnings, decoder: 'png.js' };
    }
    if (kind.format === 'gif') {
      const r = decodeGif(bytes, { maxPixels });
      return { ...pick(r), format: 'gif', exact: true, orientation: 1, warnings: r.warnings, decoder: 'gif.js' };
    }
    if (kind.format === 'heic') {
      const r = await decodeHeic(bytes, { maxPixels });
      const warnings = [];
      let exact = true;
      // Measured (tests/test_heic_decoder.py): an image with an odd width or height that the
      // file also turns or mirrors comes out of this libheif (1.23.2) with about 1% of its
      // pixels up to 39 levels away from pillow-heif's (libheif 1.23.6); without a turn, or
      // with even sides (every phone's), the two are identical.
      if ((r.width % 2 || r.height % 2) && heifTransformed(bytes)) {
        exact = false;
        warnings.push('HEIC with an odd size that is also turned or mirrored: these fingerprints are close to, but may not be identical with, what platforms compute');
      }
      return { ...pick(r), format: 'heic', exact, orientation: 1, warnings, decoder: 'libheif' };
    }
  } catch (e) {
    throw wrap(e, kind.format);
  }

  let exact = true;
  let orientation = 1;
  let jpeg = null;
  if (kind.format === 'jpeg') {
    jpeg = jpegInfo(bytes);
    orientation = jpeg.orientation;
    if (jpeg.width * jpeg.height > maxPixels) throw new FingerprintFileError('too-large', MESSAGES.tooLarge, `${jpeg.width}x${jpeg.height}`);
  }
  if (kind.format === 'avif') {
    exact = false;
    warnings.push('AVIF: decoders convert its colours slightly differently, so these fingerprints are close to, but may not be identical with, what a platform computes');
  }

  // Make the browser decode the stored pixels, by the orientation rule above: orientation tag
  // set to 1 and colour profile removed, in a copy of the header. The rest is not copied.
  let prepared;
  try {
    prepared = forBrowser(bytes, kind.format, jpeg);
  } catch (e) {
    throw wrap(e, kind.format);
  }

  const probe = await probeBrowser();
  if (!probe.faithful) throw new FingerprintFileError('canvas-noise', MESSAGES.noise);
  if (!probe.canvas) throw new FingerprintFileError('unsupported', MESSAGES.unsupported, 'no OffscreenCanvas in this browser');
  // CMYK JPEGs have a probe of their own: the CMYK to RGB step is a separate piece of code.
  const probeName = jpeg && jpeg.components === 4 ? 'cmyk' : kind.format;
  if (probeName in PROBES && !probe.exact[probeName]) {
    exact = false;
    const what = probeName === 'cmyk' ? 'CMYK JPEG' : kind.format.toUpperCase();
    warnings.push(`this browser decodes ${what} slightly differently from the tools platforms use, so these fingerprints are close to, but may not be identical with, theirs`);
  }
  // A file that carried a colour profile: exact only if this browser, given the profiled probe
  // without its profile, decodes the stored colours (it may take colour from elsewhere).
  const profileProbe = `${kind.format}Icc`;
  if (prepared.profileSegments > 0 && !probe.exact[profileProbe]) {
    exact = false;
    warnings.push(`this browser adjusts the colours of ${kind.format.toUpperCase()} photos that carry a colour profile (as phone cameras save them), so these fingerprints are close to, but may not be identical with, what platforms compute`);
  }

  let decoded;
  try {
    decoded = await decodeWithCanvas(new Blob(prepared.parts, { type: kind.mime }));
  } catch (e) {
    if (e instanceof DOMException && kind.format === 'avif') throw new FingerprintFileError('unsupported', MESSAGES.unsupported, kind.format);
    throw wrap(e, kind.format);
  }
  const decoder = 'canvas';
  if (anyTransparency(decoded.data)) {
    exact = false;
    warnings.push(`${kind.format.toUpperCase()} with transparency: the browser alters the colour of see-through pixels, so these fingerprints may differ from a platform's by a few bits`);
  }
  return { width: decoded.width, height: decoded.height, data: decoded.data, format: kind.format, exact, orientation, warnings, decoder };
}

/**
 * Whether a HEIF's header turns or mirrors its image (an irot or imir property): the box
 * types are looked for in the top-level meta box only. A chance match of the bytes makes a
 * file inexact that was not, never the reverse.
 */
export function heifTransformed(b) {
  let pos = 0;
  while (pos + 8 <= b.length) {
    let size = ((b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]) >>> 0;
    const type = ascii(b, pos + 4, 4);
    if (size === 1 && pos + 16 <= b.length) size = Number(new DataView(b.buffer, b.byteOffset + pos + 8, 8).getBigUint64(0));
    if (size === 0) size = b.length - pos;
    if (size < 8) return true; // a broken header: claim nothing
    if (type === 'meta') {
      const end = Math.min(b.length, pos + size);
      for (let i = pos + 8; i + 4 <= end; i++) {
        const t = ascii(b, i, 4);
        if (t === 'irot' || t === 'imir') return true;
      }
      return false;
    }
    pos += size;
  }
  return true;
}

function pick(r) {
  return { width: r.width, height: r.height, data: r.data };
}

/** The image's size from its header, without decoding (null when unknown). */
export function headerSize(bytes) {
  const kind = sniff(bytes);
  try {
    if (kind.format === 'png') {
      const { width, height } = parsePng(bytes);
      return { width, height };
    }
    if (kind.format === 'gif') return gifSize(bytes);
    if (kind.format === 'jpeg') {
      const { width, height } = jpegInfo(bytes);
      return width ? { width, height } : null;
    }
  } catch {
    return null;
  }
  return null;
}
