// The receipt: case number and PIN, shown once. Copy, print and save-as-text all happen on
// this device; nothing is fetched from the server to make them.
'use strict';

/** The receipt as plain text, one line each, in the page's language. */
export function receiptText({ reference, pin }, labels) {
  return `${labels.caseLabel}: ${reference}\n${labels.pinLabel}: ${pin}\n\n${labels.warning}\n`;
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
