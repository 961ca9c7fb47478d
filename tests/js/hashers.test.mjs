// Streaming MD5 and SHA-256 against Node's crypto, over awkward chunkings.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

import { MD5, md5Hex } from '../../static/fingerprint/md5.js';
import { SHA256, sha256Hex } from '../../static/fingerprint/sha256.js';

const HASHERS = [['md5', MD5], ['sha256', SHA256]];

// deterministic PRNG for chunk sizes (xorshift32)
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

function streamed(Cls, bytes, sizes) {
  const h = new Cls();
  let i = 0;
  for (const n of sizes) {
    h.update(bytes.subarray(i, i + n));
    i += n;
  }
  if (i < bytes.length) h.update(bytes.subarray(i));
  return h.hexdigest();
}

const LENGTHS = [0, 1, 2, 3, 55, 56, 57, 63, 64, 65, 111, 119, 120, 127, 128, 129, 1000, 4095, 4096, 65537];

for (const [name, Cls] of HASHERS) {
  test(`${name}: known answers`, () => {
    const abc = new TextEncoder().encode('abc');
    const expected = {
      md5: ['d41d8cd98f00b204e9800998ecf8427e', '900150983cd24fb0d6963f7d28e17f72'],
      sha256: ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    }[name];
    assert.equal(new Cls().hexdigest(), expected[0]);
    assert.equal(new Cls().update(abc).hexdigest(), expected[1]);
  });

  test(`${name}: every length and chunking matches node:crypto`, () => {
    const next = rng(name === 'md5' ? 7 : 11);
    for (const len of LENGTHS) {
      const bytes = new Uint8Array(randomBytes(len));
      const want = createHash(name).update(bytes).digest('hex');
      assert.equal(new Cls().update(bytes).hexdigest(), want, `${len} bytes at once`);
      // single bytes, empty chunks in between, and the 63/64/65 block-boundary sizes
      assert.equal(streamed(Cls, bytes, Array.from({ length: len }, () => 1)), want, `${len} one-byte chunks`);
      const withEmpty = [];
      for (let i = 0; i < len; i += 63) withEmpty.push(0, 63, 0);
      assert.equal(streamed(Cls, bytes, withEmpty), want, `${len} in 63-byte chunks with empty ones`);
      for (const size of [64, 65]) {
        assert.equal(streamed(Cls, bytes, Array.from({ length: Math.ceil(len / size) }, () => size)), want, `${len} in ${size}s`);
      }
      for (let t = 0; t < 5; t++) {
        const sizes = [];
        for (let s = 0; s < len; ) {
          const n = Math.floor(next() * 150);
          sizes.push(n);
          s += n;
        }
        assert.equal(streamed(Cls, bytes, sizes), want, `${len} in random chunks`);
      }
    }
  });

  test(`${name}: multi-megabyte input in random chunk sizes`, () => {
    const bytes = new Uint8Array(randomBytes((5 << 20) + 12345));
    const want = createHash(name).update(bytes).digest('hex');
    const next = rng(3);
    const sizes = [];
    for (let s = 0; s < bytes.length; ) {
      const n = next() < 0.1 ? Math.floor(next() * 3) : Math.floor(next() * (1 << 20));
      sizes.push(n);
      s += n;
    }
    assert.equal(streamed(Cls, bytes, sizes), want);
  });

  test(`${name}: accepts ArrayBuffer and other views; refuses update after digest`, () => {
    const bytes = new Uint8Array(randomBytes(300));
    const want = createHash(name).update(bytes).digest('hex');
    const h = new Cls();
    h.update(bytes.buffer.slice(0, 100));
    h.update(new DataView(bytes.buffer, 100, 100));
    h.update(new Uint16Array(bytes.buffer.slice(200, 300)));
    assert.equal(h.hexdigest(), want);
    assert.equal(h.hexdigest(), want, 'digest is repeatable');
    assert.throws(() => h.update(bytes), /after digest/);
    assert.throws(() => new Cls().update('text'), TypeError);
    assert.equal((name === 'md5' ? md5Hex : sha256Hex)(bytes), want);
  });
}

test('message lengths beyond 2^32 bits are encoded exactly in the padding', () => {
  // Hashing 512 MB+ in a unit test is too slow, so spy on the padding that digest() feeds
  // through update() after pretending that many bytes went by.
  for (const [Cls, littleEndian] of [[MD5, true], [SHA256, false]]) {
    for (const total of [2 ** 29 - 1, 2 ** 29, 2 ** 33 + 5, 2 ** 45 + 12345]) {
      class Spy extends Cls {
        update(chunk) {
          this.last = chunk;
          return super.update(chunk);
        }
      }
      const h = new Spy();
      h._bytes = total;
      h.hexdigest();
      const tail = h.last.subarray(h.last.length - 8);
      let bits = 0n;
      for (let i = 0; i < 8; i++) {
        const byte = BigInt(tail[littleEndian ? i : 7 - i]);
        bits |= byte << BigInt(8 * i);
      }
      assert.equal(bits, BigInt(total) * 8n, `${Cls.name} ${total}`);
    }
  }
});
