// PNG decoding in JavaScript, to the pixels Pillow 13.0 gives for Image.open(f).convert('RGB').
//
// Why not let the browser decode PNGs? A 2D canvas premultiplies alpha, so every pixel that is
// not fully opaque comes back altered (a fully transparent pixel comes back black), while
// pdqhash and imagehash hash the stored colour whatever its alpha. Browsers also apply gAMA /
// iCCP colour management, which Pillow ignores. Decoding here keeps every stored value, and
// the inflate step is the browser's own native zlib (DecompressionStream), so it stays fast.
//
// What Pillow makes of each PNG colour type / bit depth (checked against Pillow 13.0.0):
//   grey 1 bit -> mode '1' (0 or 255); grey 2/4 bits -> 'L' scaled (x85, x17); grey 8 -> 'L';
//   grey 16 -> 'I;16', whose conversion to RGB and to L clips: min(v, 255) (not v >> 8!);
//   RGB/RGBA/grey+alpha 16 bits -> the high byte of each sample; palette -> the PLTE colour;
//   tRNS, gAMA, cHRM, sRGB, iCCP -> ignored for the colour values; APNG -> the IDAT image.
// The output is RGBA with the real alpha kept in channel 3 (the hashers ignore it).
'use strict';

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ALLOWED_DEPTHS = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

// Adam7: [x0, y0, dx, dy] of each pass.
const ADAM7 = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

export class PngError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PngError';
  }
}

export function isPng(bytes) {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function u32(b, o) {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/**
 * Read the chunk structure: header fields, palette, and the IDAT payload as a list of views
 * into `bytes` (not joined: a joined copy would be one more copy of the compressed image
 * alive while decoding). Pure and synchronous, so Node tests and the size check before any
 * allocation can use it.
 */
export function parsePng(bytes) {
  if (!isPng(bytes)) throw new PngError('not a PNG file');
  let pos = 8;
  let header = null;
  let palette = null;
  let animated = false;
  const idat = [];
  let idatLength = 0;
  let sawIdat = false;
  let ended = false;
  while (pos + 8 <= bytes.length) {
    const length = u32(bytes, pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    const start = pos + 8;
    const end = start + length;
    if (end + 4 > bytes.length) throw new PngError(`the ${type} chunk is cut short (the file looks truncated)`);
    const data = bytes.subarray(start, end);
    if (type === 'IHDR') {
      if (length < 13) throw new PngError('IHDR is too short');
      header = {
        width: u32(data, 0),
        height: u32(data, 4),
        bitDepth: data[8],
        colorType: data[9],
        compression: data[10],
        filter: data[11],
        interlace: data[12],
      };
    } else if (type === 'PLTE') {
      palette = data;
    } else if (type === 'acTL') {
      animated = true;
    } else if (type === 'IDAT') {
      sawIdat = true;
      if (length > 0) idat.push(data);
      idatLength += length;
    } else if (type === 'IEND') {
      ended = true;
      break;
    }
    pos = end + 4; // skip the CRC
  }
  if (!header) throw new PngError('the PNG header (IHDR) is missing');
  const { width, height, bitDepth, colorType, compression, filter, interlace } = header;
  if (!(colorType in CHANNELS) || !ALLOWED_DEPTHS[colorType].includes(bitDepth)) {
    throw new PngError(`unsupported PNG colour type ${colorType} with bit depth ${bitDepth}`);
  }
  if (compression !== 0 || filter !== 0 || interlace > 1) throw new PngError('unknown PNG compression, filter or interlace method');
  if (width < 1 || height < 1) throw new PngError('the PNG has no pixels');
  if (!sawIdat) throw new PngError('the PNG has no image data (IDAT)');
  if (colorType === 3 && !palette) throw new PngError('a palette PNG without a palette (PLTE)');
  return { ...header, channels: CHANNELS[colorType], palette, animated, ended, idat, idatLength };
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/**
 * Undo the filter of one scanline in place: its filter byte is a[cur - 1], its bytes
 * a[cur .. cur + rowBytes); the previous (already unfiltered) line is b[prev ..], or none for
 * the first line of an image or Adam7 pass.
 */
function unfilterLine(a, cur, b, prev, hasPrev, rowBytes, bpp) {
  const f = a[cur - 1];
  switch (f) {
    case 0:
      break;
    case 1:
      for (let i = bpp; i < rowBytes; i++) a[cur + i] = (a[cur + i] + a[cur + i - bpp]) & 255;
      break;
    case 2:
      if (hasPrev) for (let i = 0; i < rowBytes; i++) a[cur + i] = (a[cur + i] + b[prev + i]) & 255;
      break;
    case 3:
      if (hasPrev) {
        for (let i = 0; i < bpp; i++) a[cur + i] = (a[cur + i] + (b[prev + i] >> 1)) & 255;
        for (let i = bpp; i < rowBytes; i++) a[cur + i] = (a[cur + i] + ((a[cur + i - bpp] + b[prev + i]) >> 1)) & 255;
      } else {
        for (let i = bpp; i < rowBytes; i++) a[cur + i] = (a[cur + i] + (a[cur + i - bpp] >> 1)) & 255;
      }
      break;
    case 4:
      if (hasPrev) {
        for (let i = 0; i < bpp; i++) a[cur + i] = (a[cur + i] + b[prev + i]) & 255;
        for (let i = bpp; i < rowBytes; i++) {
          a[cur + i] = (a[cur + i] + paeth(a[cur + i - bpp], b[prev + i], b[prev + i - bpp])) & 255;
        }
      } else {
        // Paeth with an all-zero previous row is the Sub filter.
        for (let i = bpp; i < rowBytes; i++) a[cur + i] = (a[cur + i] + a[cur + i - bpp]) & 255;
      }
      break;
    default:
      throw new PngError(`unknown PNG row filter ${f} (the file looks corrupt)`);
  }
}

/**
 * Undo the PNG row filters in place. `raw` holds `rows` scanlines of 1 filter byte plus
 * `rowBytes` bytes, starting at `offset`; bpp is the filter distance in bytes (>= 1).
 * Returns the offset just past the last row.
 */
export function unfilter(raw, offset, rows, rowBytes, bpp) {
  const stride = rowBytes + 1;
  if (raw.length < offset + rows * stride) throw new PngError('the PNG image data is shorter than its size says (truncated)');
  for (let y = 0; y < rows; y++) {
    const cur = offset + y * stride + 1;
    unfilterLine(raw, cur, raw, cur - stride, y > 0, rowBytes, bpp);
  }
  return offset + rows * stride;
}

/** Expand palette entries to RGB the way Pillow does: missing entries keep its grey ramp. */
function paletteTable(palette) {
  const table = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) table[i * 3] = table[i * 3 + 1] = table[i * 3 + 2] = i;
  if (palette) table.set(palette.subarray(0, Math.min(palette.length - (palette.length % 3), 768)));
  return table;
}

/**
 * Write one unfiltered scanline (`w` pixels at x0, x0+dx, ...) of row y into RGBA `out`.
 * Each sample is mapped to the 8-bit value Pillow's conversion to RGB produces.
 */
function writeRow(info, src, s, out, y, x0, dx, w, table) {
  const { width, bitDepth, colorType } = info;
  let o = (y * width + x0) * 4;
  const step = dx * 4;
  if (colorType === 0 || colorType === 3) {
    const grey = colorType === 0;
    if (bitDepth === 8) {
      for (let x = 0; x < w; x++, o += step) {
        const v = src[s + x];
        if (grey) out[o] = out[o + 1] = out[o + 2] = v;
        else {
          out[o] = table[v * 3];
          out[o + 1] = table[v * 3 + 1];
          out[o + 2] = table[v * 3 + 2];
        }
        out[o + 3] = 255;
      }
    } else if (bitDepth === 16) {
      // 'I;16' -> RGB / L in Pillow clips to 255 (it does not take the high byte).
      for (let x = 0, i = s; x < w; x++, i += 2, o += step) {
        const v = (src[i] << 8) | src[i + 1];
        out[o] = out[o + 1] = out[o + 2] = v > 255 ? 255 : v;
        out[o + 3] = 255;
      }
    } else {
      const mask = (1 << bitDepth) - 1;
      const scale = grey ? 255 / mask : 1; // 1 bit -> 0/255, 2 bits -> x85, 4 bits -> x17
      const perByte = 8 / bitDepth;
      for (let x = 0; x < w; x++, o += step) {
        const byte = src[s + Math.floor(x / perByte)];
        const shift = 8 - bitDepth * ((x % perByte) + 1);
        const v = (byte >> shift) & mask;
        if (grey) out[o] = out[o + 1] = out[o + 2] = v * scale;
        else {
          out[o] = table[v * 3];
          out[o + 1] = table[v * 3 + 1];
          out[o + 2] = table[v * 3 + 2];
        }
        out[o + 3] = 255;
      }
    }
    return;
  }
  const channels = CHANNELS[colorType];
  const bytesPer = bitDepth === 16 ? 2 : 1; // 16 bits: the high byte, as Pillow's ';16B' rawmodes
  const ps = channels * bytesPer;
  for (let x = 0, i = s; x < w; x++, i += ps, o += step) {
    if (colorType === 2) {
      out[o] = src[i];
      out[o + 1] = src[i + bytesPer];
      out[o + 2] = src[i + 2 * bytesPer];
      out[o + 3] = 255;
    } else if (colorType === 4) {
      out[o] = out[o + 1] = out[o + 2] = src[i];
      out[o + 3] = src[i + bytesPer];
    } else {
      out[o] = src[i];
      out[o + 1] = src[i + bytesPer];
      out[o + 2] = src[i + 2 * bytesPer];
      out[o + 3] = src[i + 3 * bytesPer];
    }
  }
}

/**
 * Receives the inflated image data in pieces of any size and writes each scanline into the
 * RGBA output as soon as it is complete: only two scanlines are ever kept (the current one
 * and the previous one the filters refer to), never the whole inflated image.
 */
export class ScanlineWriter {
  constructor(info, out) {
    const { width, height, bitDepth, channels, colorType, interlace } = info;
    const bitsPerPixel = channels * bitDepth;
    this.info = info;
    this.out = out;
    this.bpp = Math.max(1, bitsPerPixel >> 3);
    this.table = colorType === 3 ? paletteTable(info.palette) : null;
    // Each pass: [x0, y0, dx, dy, pixels per line, lines, bytes per line]; one pass unless Adam7.
    this.passes = [];
    for (const [x0, y0, dx, dy] of interlace ? ADAM7 : [[0, 0, 1, 1]]) {
      const w = Math.ceil((width - x0) / dx);
      const h = Math.ceil((height - y0) / dy);
      if (w > 0 && h > 0) this.passes.push([x0, y0, dx, dy, w, h, Math.ceil((w * bitsPerPixel) / 8)]);
    }
    // Line buffers: the filter byte at [0], the line's bytes from [1].
    const longest = Math.max(...this.passes.map((p) => p[6])) + 1;
    this.cur = new Uint8Array(longest);
    this.prev = new Uint8Array(longest);
    this.pass = 0;
    this.line = 0;
    this.fill = 0;
  }

  get done() {
    return this.pass >= this.passes.length;
  }

  /** Take the next piece of inflated data; bytes after the last scanline are ignored. */
  push(chunk) {
    let i = 0;
    while (i < chunk.length && !this.done) {
      const p = this.passes[this.pass];
      const stride = p[6] + 1;
      const n = Math.min(stride - this.fill, chunk.length - i);
      this.cur.set(chunk.subarray(i, i + n), this.fill);
      this.fill += n;
      i += n;
      if (this.fill === stride) this._line(p);
    }
  }

  _line([x0, y0, dx, dy, w, h, rowBytes]) {
    const start = 1;
    unfilterLine(this.cur, start, this.prev, start, this.line > 0, rowBytes, this.bpp);
    writeRow(this.info, this.cur, start, this.out, y0 + this.line * dy, x0, dx, w, this.table);
    const t = this.prev;
    this.prev = this.cur;
    this.cur = t;
    this.fill = 0;
    if (++this.line === h) {
      this.pass++;
      this.line = 0;
    }
  }
}

/**
 * Inflate the IDAT pieces with the browser's (or Node's) native zlib (DecompressionStream)
 * and hand each inflated piece to `sink` as it comes out.
 */
async function inflateInto(idat, sink) {
  const ds = new DecompressionStream('deflate');
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  // Writing waits for the reader below to drain the stream, so the two run together.
  const writing = (async () => {
    for (const part of idat) await writer.write(part);
    await writer.close();
  })();
  writing.catch(() => {}); // its failure also errors the readable side, reported from there
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    sink.push(value);
  }
  await writing;
}

/**
 * Decode a PNG file's bytes.
 * @returns {Promise<{width:number, height:number, data:Uint8ClampedArray, hasAlpha:boolean,
 *   info:object, warnings:string[]}>}
 */
export async function decodePng(bytes, { maxPixels = Infinity } = {}) {
  const info = parsePng(bytes);
  if (info.width * info.height > maxPixels) {
    const err = new PngError(`the image is ${info.width}x${info.height} pixels, more than this device can safely decode`);
    err.code = 'too-large';
    throw err;
  }
  const data = new Uint8ClampedArray(info.width * info.height * 4);
  const sink = new ScanlineWriter(info, data);
  try {
    await inflateInto(info.idat, sink);
  } catch (e) {
    if (e instanceof PngError) throw e;
    throw new PngError(`the PNG image data could not be decompressed (${e && e.message ? e.message : e})`);
  }
  if (!sink.done) throw new PngError('the PNG image data is shorter than its size says (truncated)');
  let hasAlpha = false;
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] !== 255) {
      hasAlpha = true;
      break;
    }
  }
  const warnings = [];
  if (info.animated) warnings.push('animated PNG: the first image (the one Pillow and pdqhash read) was fingerprinted');
  if (!info.ended) warnings.push('the PNG has no end marker (IEND); the image data was complete and was used');
  const { idat, palette, ...rest } = info;
  return { width: info.width, height: info.height, data, hasAlpha, info: rest, warnings };
}
