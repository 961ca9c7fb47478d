// The survivor flow's wire format, under Node: exactly what leaves the device for a result.
// The whole flow runs in Chromium in tests/browser/test_journey*.py.
import test from 'node:test';
import assert from 'node:assert/strict';

import { fileNumbers, fmt, isSent, submission, wireFingerprints } from '../../static/js/survivor/flow.js';
import { addedText, fitSize, receiptText, THUMBNAIL_SIZE } from '../../static/js/survivor/receipt.js';

const PDQ = 'f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22';
const ROT = 'd8f8f0cec0f4a84f8e370a22038f67f0b36a2ed597231e1d72e6b39c4a9c9b22';

const photo = {
  kind: 'image', name: 'IMG_0001.jpg', width: 640, height: 480, warnings: ['x'], exif: { Artist: 'someone' },
  pdq: PDQ, pdq_quality: 90, pdq_dihedral: [PDQ, ROT],
  phash: 'a1b2c3d4e5f60718', dhash: '0f0f0f0f0f0f0f0f', ahash: 'ffff0000ffff0000',
  md5: 'cab08b36195edb1a1231d2d09fa450e0', sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b856',
};

test('a photo gives pdq with its quality and distinct rotations, then the other hashes', () => {
  assert.deepEqual(wireFingerprints(photo), [
    { signal_type: 'pdq', value: PDQ, quality: 90 },
    { signal_type: 'pdq', value: ROT, quality: 90 },
    { signal_type: 'phash', value: photo.phash },
    { signal_type: 'dhash', value: photo.dhash },
    { signal_type: 'ahash', value: photo.ahash },
    { signal_type: 'md5', value: photo.md5 },
    { signal_type: 'sha256', value: photo.sha256 },
  ]);
});

test('the signals the fingerprinting module recommends are used when it lists them', () => {
  const result = { ...photo, signals: [{ type: 'pdq', value: PDQ }, { type: 'sha256', value: photo.sha256 }] };
  assert.deepEqual(wireFingerprints(result), [
    { signal_type: 'pdq', value: PDQ, quality: 90 },
    { signal_type: 'sha256', value: photo.sha256 },
  ]);
});

test('a flat photo (low PDQ quality) leaves PDQ out; a video sends exact digests only', () => {
  assert.ok(!wireFingerprints({ ...photo, pdq_quality: 10 }).some((f) => f.signal_type === 'pdq'));
  const video = { kind: 'video', md5: photo.md5, sha256: photo.sha256, pdq: null };
  assert.deepEqual(wireFingerprints(video), [
    { signal_type: 'video_md5', value: photo.md5 },
    { signal_type: 'sha256', value: photo.sha256 },
  ]);
});

test('the submission holds fingerprints and a count, nothing else about the files', () => {
  const body = submission([photo, { ...photo, pdq: null, pdq_dihedral: [] }]);
  assert.deepEqual(Object.keys(body).sort(), ['count', 'files']);
  assert.equal(body.count, 2);
  const text = JSON.stringify(body);
  for (const leak of ['IMG_0001', 'someone', 'width', 'warnings', '640']) assert.ok(!text.includes(leak), leak);
  for (const file of body.files) assert.deepEqual(Object.keys(file), ['fingerprints']);
});

test('placeholders in translated messages are filled; the receipt text has both values', () => {
  assert.equal(fmt('%(done)s de %(total)s', { done: 1, total: 3 }), '1 de 3');
  assert.equal(fmt('File %(n)s', {}), 'File %(n)s');
  const text = receiptText({ reference: 'ABCD-EFGH-JKMN-PQRS', pin: '123456' },
    { caseLabel: 'Case number', pinLabel: 'PIN', warning: 'Keep these safe.' });
  assert.match(text, /Case number: ABCD-EFGH-JKMN-PQRS\nPIN: 123456\n/);
});

// --- Numbering and the receipt's optional list ------------------------------------------------

const ok = (result = photo) => ({ ok: true, result });
const failed = { ok: false, error: { code: 'corrupt', message: 'This file is damaged.' } };

test('files are numbered in the order they are sent; one not sent gets no number', () => {
  // Before fingerprinting every chosen file is expected to be sent.
  assert.deepEqual(fileNumbers([undefined, undefined, undefined]), [1, 2, 3]);
  assert.deepEqual(fileNumbers([ok(), failed, ok()]), [1, null, 2]);
  // Exactly the ones submission() sends, in the same order.
  const outcomes = [failed, ok(), ok({ ...photo, md5: 'cab08b36195edb1a1231d2d09fa450e1' })];
  const numbers = fileNumbers(outcomes);
  const sent = outcomes.filter(isSent);
  assert.deepEqual(numbers, [null, 1, 2]);
  assert.equal(submission(sent.map((o) => o.result)).count, numbers.filter((n) => n !== null).length);
  assert.equal(isSent(undefined), false);
  assert.equal(isSent(ok({ kind: 'image', signals: [], pdq: null, pdq_dihedral: [] })), false);
});

test('on the add page the numbers continue after the files the case already has', () => {
  assert.deepEqual(fileNumbers([ok(), failed, ok()], 3), [4, null, 5]);
  assert.deepEqual(fileNumbers([undefined], 0), [1]);
});

const LABELS = { caseLabel: 'Case number', pinLabel: 'PIN', warning: 'Keep these safe.', fileLabel: 'File %(n)s' };

test('the receipt text lists "File n: name" lines only when asked, never a picture', () => {
  const ids = { reference: 'ABCD-EFGH-JKMN-PQRS', pin: '123456' };
  assert.equal(receiptText(ids, LABELS), 'Case number: ABCD-EFGH-JKMN-PQRS\nPIN: 123456\n\nKeep these safe.\n');
  assert.equal(receiptText(ids, LABELS, [{ number: 1, name: 'a.jpg' }, { number: 2, name: 'b c.png' }]),
    'Case number: ABCD-EFGH-JKMN-PQRS\nPIN: 123456\n\nFile 1: a.jpg\nFile 2: b c.png\n\nKeep these safe.\n');
});

test('after adding, the text names the new numbers, with names only when asked', () => {
  const labels = { heading: 'Files added to your case:', fileLabel: 'Archivo %(n)s' };
  assert.equal(addedText([{ number: 4, name: '' }, { number: 5, name: '' }], labels),
    'Files added to your case:\nArchivo 4\nArchivo 5\n');
  assert.equal(addedText([{ number: 4, name: 'x.jpg' }], labels), 'Files added to your case:\nArchivo 4: x.jpg\n');
});

test('a picture on the receipt fits a 32 pixel square whatever its shape', () => {
  assert.equal(THUMBNAIL_SIZE, 32);
  assert.deepEqual(fitSize(4000, 3000, 32), { width: 32, height: 24 });
  assert.deepEqual(fitSize(1080, 1920, 32), { width: 18, height: 32 });
  assert.deepEqual(fitSize(10000, 10, 32), { width: 32, height: 1 });
  assert.deepEqual(fitSize(0, 0, 32), { width: 1, height: 1 });
});
