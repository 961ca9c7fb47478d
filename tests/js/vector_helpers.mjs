// Readers for the vector files written by tests/vectors/make_vectors.py (not a test file itself).
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const VECTOR_DIR = path.join(HERE, 'vectors');

export function loadVectors(name) {
  return JSON.parse(readFileSync(path.join(VECTOR_DIR, name), 'utf8'));
}

/** base64 -> zlib-inflated bytes (a fresh Uint8Array with its own buffer). */
export function unpack(b64) {
  const buf = inflateSync(Buffer.from(b64, 'base64'));
  return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/**
 * Undo make_vectors.pack_pixels: zlib, then PNG-'Sub'-style running sums along each row with
 * a step of `channels` bytes.
 */
export function unpackPixels(b64, width, height, channels) {
  const bytes = unpack(b64);
  const rowLen = width * channels;
  if (bytes.length !== rowLen * height) {
    throw new Error(`pixel payload has ${bytes.length} bytes, expected ${rowLen * height}`);
  }
  for (let y = 0; y < height; y++) {
    const o = y * rowLen;
    for (let i = channels; i < rowLen; i++) bytes[o + i] = (bytes[o + i] + bytes[o + i - channels]) & 255;
  }
  return bytes;
}
