// The pure parts of the browser decoders, under Node: PNG unfiltering and Pillow's sample
// mapping, GIF LZW and frame composition, file sniffing and JPEG header facts. Agreement with
// Pillow on real files is proven in Chromium by tests/browser/test_fingerprint_conformance.py.
import test from 'node:test';
import assert from 'node:assert/strict';

import { decodePng, unfilter } from '../../static/fingerprint/png.js';
import { decodeGif, lzwDecode } from '../../static/fingerprint/gif.js';
import { jpegInfo, sniff } from '../../static/fingerprint/decode.js';

function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set([...type].map((c) => c.charCodeAt(0)), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

async function deflate(bytes) {
  const s = new Blob([bytes]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function png(width, height, bitDepth, colorType, scanlines, extra = []) {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([bitDepth, colorType, 0, 0, 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    ...extra, chunk('IDAT', await deflate(scanlines)), chunk('IEND', new Uint8Array(0))];
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

const rgb = (d) => Array.from(d).filter((_, i) => i % 4 !== 3);

test('16-bit grey clips at 255 as Pillow I;16 does; 16-bit RGB keeps the high byte', async () => {
  const grey = await png(3, 1, 16, 0, new Uint8Array([0, 0x00, 0x64, 0x01, 0x00, 0xff, 0xff]));
  assert.deepEqual(rgb((await decodePng(grey)).data), [100, 100, 100, 255, 255, 255, 255, 255, 255]);
  const colour = await png(1, 1, 16, 2, new Uint8Array([0, 0x12, 0xff, 0x80, 0xff, 0xff, 0x00]));
  assert.deepEqual(rgb((await decodePng(colour)).data), [0x12, 0x80, 0xff]);
});

test('low bit depths scale like Pillow; palettes use PLTE colours; alpha keeps stored colour', async () => {
  const g2 = await png(4, 1, 2, 0, new Uint8Array([0, 0b00011011]));
  assert.deepEqual(rgb((await decodePng(g2)).data), [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]);
  const pal = await png(2, 1, 4, 3, new Uint8Array([0, 0x10]), [chunk('PLTE', new Uint8Array([1, 2, 3, 4, 5, 6]))]);
  assert.deepEqual(rgb((await decodePng(pal)).data), [4, 5, 6, 1, 2, 3]);
  const rgba = await decodePng(await png(1, 1, 8, 6, new Uint8Array([0, 200, 100, 50, 0])));
  assert.deepEqual(Array.from(rgba.data), [200, 100, 50, 0]);
  assert.equal(rgba.hasAlpha, true);
});

test('all five row filters are undone', () => {
  // Two rows of 3 bytes, bpp 1; row 2 uses each filter in turn against a known row 1.
  const want = [10, 20, 30, 40, 60, 90];
  const encode = (f) => {
    const a = [0, 40, 60];
    const b = want.slice(0, 3);
    const c = [0, 10, 20];
    const paeth = (x, y, z) => {
      const p = x + y - z;
      const [pa, pb, pc] = [Math.abs(p - x), Math.abs(p - y), Math.abs(p - z)];
      return pa <= pb && pa <= pc ? x : pb <= pc ? y : z;
    };
    const pred = [0, 1, 2].map((i) => [0, a[i], b[i], (a[i] + b[i]) >> 1, paeth(a[i], b[i], c[i])][f]);
    return [0, ...want.slice(0, 3), f, ...want.slice(3).map((v, i) => (v - pred[i]) & 255)];
  };
  for (let f = 0; f <= 4; f++) {
    const raw = new Uint8Array(encode(f));
    unfilter(raw, 0, 2, 3, 1);
    assert.deepEqual([...raw.subarray(1, 4), ...raw.subarray(5, 8)], want, `filter ${f}`);
  }
});

test('truncated or corrupt PNGs are refused, not guessed', async () => {
  const good = await png(2, 2, 8, 0, new Uint8Array([0, 1, 2, 0, 3, 4]));
  await assert.rejects(decodePng(good.subarray(0, 30)));
  await assert.rejects(decodePng(await png(2, 1, 8, 0, new Uint8Array([9, 1, 2]))), /filter/);
});

test('GIF LZW with a KwKwK code, and frame 0 on a transparent-index background', () => {
  // min code size 2: clear=4, eoi=5. Codes 4,1,6,6,5 decode to 1 | 1 1 | 1 1 1 (6 = KwK case).
  const codes = [[4, 3], [1, 3], [6, 3], [6, 3], [5, 3]];
  let bits = 0;
  let n = 0;
  const bytes = [];
  for (const [code, size] of codes) {
    bits |= code << n;
    n += size;
    while (n >= 8) {
      bytes.push(bits & 255);
      bits >>>= 8;
      n -= 8;
    }
  }
  if (n) bytes.push(bits & 255);
  const { indices, written } = lzwDecode(new Uint8Array(bytes), 2, 5);
  assert.equal(written, 5);
  assert.deepEqual(Array.from(indices), [1, 1, 1, 1, 1]);

  // 3x1 screen, global table [black, red], transparent index 1, frame covers x=1 only with index 0.
  const gif = new Uint8Array([
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 3, 0, 1, 0, 0x80, 0, 0,
    0, 0, 0, 255, 0, 0,
    0x21, 0xf9, 4, 1, 0, 0, 1, 0,
    0x2c, 1, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b,
  ]);
  const frame = decodeGif(gif);
  assert.deepEqual(Array.from(frame.data), [255, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0]);
});

test('files are recognised by their bytes; JPEG headers give size, CMYK and orientation', () => {
  const head = (s) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
  assert.equal(sniff(head('\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic')).format, 'heic');
  assert.equal(sniff(head('\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2')).kind, 'video');
  assert.equal(sniff(head('RIFF\x00\x00\x00\x00WEBPVP8 ')).format, 'webp');
  assert.equal(sniff(head('hello world, not an image')).kind, 'unknown');
  // SOI, APP1 Exif (big-endian TIFF, one IFD entry: orientation 6), SOF0 4 components 5x7.
  const exif = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0];
  const app1 = [0xff, 0xe1, 0, 2 + 6 + exif.length, ...head('Exif\x00\x00'), ...exif];
  const sof = [0xff, 0xc0, 0, 8 + 3 * 4, 8, 0, 7, 0, 5, 4, ...Array(12).fill(1)];
  const info = jpegInfo(new Uint8Array([0xff, 0xd8, ...app1, ...sof, 0xff, 0xd9]));
  assert.equal(info.orientation, 6);
  assert.deepEqual([info.width, info.height, info.components, info.progressive], [5, 7, 4, false]);
});
