// The receipt: case number and PIN, shown once, and (only if the person asks for it) the name
// and a tiny blurred picture of each file beside its number, so they know later which number
// is which photo when they withdraw one. Copy, print, save-as-text and the pictures all happen
// on this device; nothing is fetched from the server to make them and nothing of them is sent.
'use strict';

/** Fill %(name)s placeholders (the format Django's catalogues use). */
export function fmt(template, values) {
  return String(template).replace(/%\((\w+)\)[sd]/g, (m, key) => (key in values ? String(values[key]) : m));
}

/**
 * "File 4: holiday.jpg" lines (or "File 4" without a name): `files` is [{number, name}] in the
 * case page's numbering; `fileLabel` is the translated "File %(n)s".
 */
export function fileLines(files, fileLabel) {
  return files.map(({ number, name }) => {
    const label = fmt(fileLabel, { n: number });
    return name ? `${label}: ${name}` : label;
  });
}

/**
 * The receipt as plain text, one line each, in the page's language. With `files` (only when
 * the person ticked the option) their numbers and names follow the PIN; pictures never go
 * into text.
 */
export function receiptText({ reference, pin }, labels, files = []) {
  const listed = files.length ? `${fileLines(files, labels.fileLabel).join('\n')}\n\n` : '';
  return `${labels.caseLabel}: ${reference}\n${labels.pinLabel}: ${pin}\n\n${listed}${labels.warning}\n`;
}

/** After adding files: a heading and one line per new file, names only if asked for. */
export function addedText(files, labels) {
  return `${labels.heading}\n${fileLines(files, labels.fileLabel).join('\n')}\n`;
}

/** Save `text` as a file through a Blob URL that is revoked straight after. */
export function saveText(text, filename, doc = document) {
  const blob = new Blob([text], { type: 'text/plain;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const link = doc.createElement('a');
  link.href = url;
  link.download = filename;
  link.hidden = true;
  doc.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** Copy to the clipboard; resolves false where the browser does not allow it. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

// --- Tiny blurred pictures ------------------------------------------------------------------

/** The picture's longer side on the receipt, in pixels. */
export const THUMBNAIL_SIZE = 32;
/** The picture is first shrunk to this many pixels across its longer side: all that is left
 * is a few patches of colour, which the enlargement to THUMBNAIL_SIZE smooths into a blur. */
export const THUMBNAIL_DETAIL = 6;

/** A width × height picture fitted into a size × size square, at least 1 pixel each way. */
export function fitSize(width, height, size) {
  const scale = size / Math.max(width, height, 1);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The first frame of a video, as something a canvas can draw; `release()` frees it. */
function videoFrame(file, doc) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const video = doc.createElement('video');
    const release = () => {
      video.removeAttribute('src');
      video.load();
      URL.revokeObjectURL(url);
    };
    video.muted = true;
    video.playsInline = true;
    video.preload = 'auto';
    video.addEventListener('loadeddata', () => resolve({ source: video, width: video.videoWidth, height: video.videoHeight, release }), { once: true });
    video.addEventListener('error', () => { release(); reject(new Error('video')); }, { once: true });
    video.src = url;
  });
}

async function pictureOf(file, kind, doc) {
  if (kind === 'video') return videoFrame(file, doc);
  const bitmap = await createImageBitmap(file);
  return { source: bitmap, width: bitmap.width, height: bitmap.height, release: () => bitmap.close() };
}

/**
 * A canvas with a very small, heavily blurred picture of `file`, drawn on this device (no URL
 * of any kind is made from it), or null where the browser cannot draw this file (HEIC, say).
 */
export async function drawThumbnail(file, kind, doc = document) {
  let picture;
  try {
    picture = await pictureOf(file, kind, doc);
  } catch {
    return null;
  }
  try {
    const small = fitSize(picture.width, picture.height, THUMBNAIL_DETAIL);
    const coarse = doc.createElement('canvas');
    coarse.width = small.width;
    coarse.height = small.height;
    coarse.getContext('2d').drawImage(picture.source, 0, 0, small.width, small.height);
    const size = fitSize(picture.width, picture.height, THUMBNAIL_SIZE);
    const canvas = doc.createElement('canvas');
    canvas.width = size.width;
    canvas.height = size.height;
    const context = canvas.getContext('2d');
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = 'high';
    // A further blur where the browser has canvas filters; the shrinking alone already leaves
    // nothing but colour.
    if ('filter' in context) context.filter = 'blur(1px)';
    context.drawImage(coarse, 0, 0, size.width, size.height);
    return canvas;
  } catch {
    return null;
  } finally {
    picture.release();
  }
}
