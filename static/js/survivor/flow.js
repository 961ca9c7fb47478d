// The on-device fingerprinting flow: choose files (picker or drag and drop), blurred local
// previews, fingerprinting with per-file and overall progress (cancellable), a review, then a
// JSON submission of fingerprints only. Configured entirely by data-* attributes on an element
// with [data-fingerprint-flow] (see templates/survivor/_fingerprint_flow.html), so the survivor
// pages and assisted cases (caseworkers) share it. No inline script or style: CSP holds.
//
// What leaves the device is built in one place, `submission()`: the signal type, value and
// (for PDQ) quality of each fingerprint, and the number of files. Never a File, a name, a
// size, a type or any metadata.
'use strict';

import { imageSignals, videoSignals } from '../../fingerprint/signals.js';
import { copyText, receiptText, saveText } from './receipt.js';

/** Fill %(name)s placeholders (the format Django's catalogues use). */
export function fmt(template, values) {
  return String(template).replace(/%\((\w+)\)[sd]/g, (m, key) => (key in values ? String(values[key]) : m));
}

/** Wire fingerprints for one fingerprinting result, as the server's wire format expects. */
export function wireFingerprints(result) {
  const signals = Array.isArray(result.signals) && result.signals.length ? result.signals : fallbackSignals(result);
  const seen = new Set();
  const out = [];
  for (const s of signals) {
    const key = `${s.type}:${s.value}`;
    if (!s.value || seen.has(key)) continue;
    seen.add(key);
    const fp = { signal_type: s.type, value: s.value };
    // Crop PDQs carry their own quality; the dihedral variants share the image's.
    if (s.type === 'pdq') fp.quality = s.quality ?? result.pdq_quality;
    out.push(fp);
  }
  return out;
}

// Results from the fingerprinting module always list `signals`; this covers a result without
// them with the module's own rule, so what to submit is decided in one place.
function fallbackSignals(r) {
  return r.kind === 'video' ? videoSignals(r) : imageSignals(r);
}

/** The JSON body: fingerprints, their signal types and a count. Nothing else. */
export function submission(results) {
  const files = results.map((r) => ({ fingerprints: wireFingerprints(r) })).filter((f) => f.fingerprints.length);
  return { count: files.length, files };
}

function isMedia(file) {
  // An empty type is common for HEIC and some videos: let the fingerprinting decide.
  return !file.type || file.type.startsWith('image/') || file.type.startsWith('video/');
}

export function initFingerprintFlow(root) {
  if (root.dataset.flowReady) return;
  root.dataset.flowReady = '1';
  const msg = root.dataset;
  const $ = (sel) => root.querySelector(sel);
  const steps = Array.from(root.querySelectorAll('[data-flow-step]'));
  const input = $('[data-flow-input]');
  const drop = $('[data-flow-drop]');
  const list = $('[data-flow-list]');
  const countText = $('[data-flow-count]');
  const startButton = $('[data-flow-start]');
  const errorBox = $('[data-flow-error]');
  const statusBox = $('[data-flow-status]');
  const template = root.ownerDocument.querySelector('[data-flow-item-template]');
  const csrf = root.querySelector('input[name=csrfmiddlewaretoken]').value;

  let chosen = []; // {id, file, kind, url, item}
  let nextId = 1;
  let results = [];
  let controller = null;

  const announce = (text) => {
    statusBox.textContent = '';
    // A fresh text node each time so screen readers repeat identical messages.
    setTimeout(() => { statusBox.textContent = text; }, 50);
  };
  const showError = (text) => {
    errorBox.textContent = text || '';
    errorBox.hidden = !text;
  };
  // The page's title names the step on screen (WCAG 2.4.2): someone switching tabs, or a
  // screen reader reading the title, hears "Your case number and PIN" at the receipt, not
  // the first step's name. The site name after the dash is kept.
  const doc = root.ownerDocument;
  const titleSuffix = doc.title.includes(' – ') ? doc.title.slice(doc.title.lastIndexOf(' – ')) : '';
  const show = (name) => {
    for (const step of steps) step.hidden = step.dataset.flowStep !== name;
    const heading = root.querySelector(`[data-flow-step="${name}"] h2`);
    if (heading) {
      if (name !== 'choose') doc.title = `${heading.textContent.trim()}${titleSuffix}`;
      heading.focus();
    }
  };
  const labelFor = (entry, index) => `${fmt(msg.msgFileLabel, { n: index + 1 })} (${entry.kind === 'video' ? msg.msgVideo : msg.msgPhoto})`;

  function renderChosen() {
    list.replaceChildren();
    chosen.forEach((entry, index) => {
      const item = template.content.firstElementChild.cloneNode(true);
      const preview = item.querySelector('[data-item-preview]');
      const media = root.ownerDocument.createElement(entry.kind === 'video' ? 'video' : 'img');
      media.src = entry.url;
      if (entry.kind === 'video') {
        media.muted = true;
        media.preload = 'metadata';
      } else {
        media.alt = '';
      }
      preview.appendChild(media);
      preview.classList.toggle('fp-blurred', !entry.revealed);
      item.querySelector('[data-item-name]').textContent = labelFor(entry, index);
      // The name is shown only here, on this device, to help tell files apart.
      item.querySelector('[data-item-state]').textContent = entry.file.name;
      const reveal = item.querySelector('[data-item-reveal]');
      reveal.textContent = entry.revealed ? msg.msgHide : msg.msgShow;
      reveal.setAttribute('aria-pressed', String(Boolean(entry.revealed)));
      reveal.setAttribute('aria-label', `${reveal.textContent}: ${labelFor(entry, index)}`);
      reveal.addEventListener('click', () => {
        entry.revealed = !entry.revealed;
        preview.classList.toggle('fp-blurred', !entry.revealed);
        reveal.textContent = entry.revealed ? msg.msgHide : msg.msgShow;
        reveal.setAttribute('aria-pressed', String(entry.revealed));
        reveal.setAttribute('aria-label', `${reveal.textContent}: ${labelFor(entry, index)}`);
      });
      const remove = item.querySelector('[data-item-remove]');
      remove.textContent = msg.msgRemove;
      remove.setAttribute('aria-label', `${msg.msgRemove}: ${labelFor(entry, index)}`);
      remove.addEventListener('click', () => removeEntry(entry.id));
      entry.item = item;
      list.appendChild(item);
    });
    countText.textContent = chosen.length === 0 ? '' : chosen.length === 1 ? msg.msgCountOne : fmt(msg.msgCount, { n: chosen.length });
    startButton.disabled = chosen.length === 0;
  }

  function addFiles(files) {
    showError('');
    let refused = 0;
    for (const file of files) {
      if (!isMedia(file)) { refused++; continue; }
      const kind = file.type.startsWith('video/') ? 'video' : 'image';
      chosen.push({ id: nextId++, file, kind, url: URL.createObjectURL(file), revealed: false });
    }
    renderChosen();
    if (refused) showError(msg.msgNotMedia);
    announce(countText.textContent);
  }

  function removeEntry(id) {
    const index = chosen.findIndex((e) => e.id === id);
    if (index < 0) return;
    URL.revokeObjectURL(chosen[index].url);
    chosen.splice(index, 1);
    renderChosen();
    const next = list.querySelectorAll('[data-item-remove]')[Math.min(index, chosen.length - 1)];
    (next || input).focus();
    announce(msg.msgRemoved);
  }

  function forgetFiles() {
    for (const entry of chosen) URL.revokeObjectURL(entry.url);
    chosen = [];
    results = [];
    renderChosen();
  }

  input.addEventListener('change', () => {
    addFiles(Array.from(input.files || []));
    input.value = '';
  });
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('fp-drop-active');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('fp-drop-active'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('fp-drop-active');
    addFiles(Array.from(event.dataTransfer ? event.dataTransfer.files : []));
  });
  // A file dropped beside the zone would otherwise be opened by the browser, leaving the page.
  const win = root.ownerDocument.defaultView;
  win.addEventListener('dragover', (event) => event.preventDefault());
  win.addEventListener('drop', (event) => event.preventDefault());

  // --- Fingerprinting --------------------------------------------------------------------
  const overall = $('[data-flow-overall]');
  const overallText = $('[data-flow-overall-text]');
  const progressList = $('[data-flow-progress-list]');

  async function fingerprintAll() {
    showError('');
    show('progress');
    const rows = chosen.map((entry, index) => {
      const li = root.ownerDocument.createElement('li');
      li.className = 'fp-progress-item';
      const label = root.ownerDocument.createElement('span');
      label.id = `fp-progress-${entry.id}`;
      label.textContent = labelFor(entry, index);
      const bar = root.ownerDocument.createElement('progress');
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute('aria-labelledby', label.id);
      const state = root.ownerDocument.createElement('span');
      state.className = 'fp-file-state';
      state.textContent = msg.msgWaiting;
      li.append(label, bar, state);
      progressList.appendChild(li);
      return { bar, state };
    });
    progressList.replaceChildren(...rows.map((r) => r.bar.parentElement));
    overall.value = 0;
    overallText.textContent = fmt(msg.msgOverall, { done: 0, total: chosen.length });
    controller = new AbortController();
    const { fingerprintFiles } = await import(root.dataset.fingerprintModule);
    const outcomes = await fingerprintFiles(chosen.map((e) => e.file), {
      signal: controller.signal,
      onProgress: (p) => {
        const row = rows[p.index];
        if (row) {
          row.bar.value = Math.round(p.fraction * 100);
          if (p.stage !== 'done' && p.stage !== 'failed') row.state.textContent = msg.msgWorking;
        }
        overall.value = Math.round(p.overall * 100);
        overallText.textContent = fmt(msg.msgOverall, { done: p.done, total: p.total });
      },
      onFileDone: (outcome) => {
        const row = rows[outcome.index];
        if (row) row.state.textContent = outcome.ok ? msg.msgDone : `${msg.msgFailed}: ${outcome.error.message}`;
      },
    });
    const cancelled = controller.signal.aborted;
    controller = null;
    if (cancelled) {
      show('choose');
      announce(msg.msgCancelled);
      return;
    }
    results = outcomes;
    renderReview();
    show('review');
  }

  startButton.addEventListener('click', () => {
    if (chosen.length) fingerprintAll();
  });
  $('[data-flow-cancel]').addEventListener('click', () => {
    if (controller) controller.abort();
  });

  // --- Review and submit ------------------------------------------------------------------
  const reviewList = $('[data-flow-review-list]');
  const submitButton = $('[data-flow-submit]');

  function renderReview() {
    reviewList.replaceChildren();
    const doc = root.ownerDocument;
    results.forEach((outcome, index) => {
      const entry = chosen[index];
      const li = doc.createElement('li');
      const title = doc.createElement('p');
      title.className = 'fp-review-title';
      title.textContent = labelFor(entry, index);
      li.appendChild(title);
      const line = doc.createElement('p');
      if (outcome.ok) {
        const fps = wireFingerprints(outcome.result);
        line.textContent = fmt(msg.msgFingerprints, { n: fps.length });
        li.appendChild(line);
        if (outcome.result.kind === 'video') {
          const note = doc.createElement('p');
          note.className = 'hint';
          note.textContent = msg.msgExactOnly;
          li.appendChild(note);
        }
        const details = doc.createElement('details');
        const summary = doc.createElement('summary');
        summary.textContent = msg.msgShowSent;
        const values = doc.createElement('ul');
        values.className = 'fp-values';
        for (const fp of fps) {
          const v = doc.createElement('li');
          v.textContent = `${fp.signal_type}: ${fp.value}`;
          values.appendChild(v);
        }
        details.append(summary, values);
        li.appendChild(details);
      } else {
        line.textContent = `${msg.msgFailed}: ${outcome.error.message}`;
        li.appendChild(line);
      }
      reviewList.appendChild(li);
    });
    const body = submission(results.filter((o) => o.ok).map((o) => o.result));
    submitButton.disabled = body.count === 0;
    if (body.count === 0) showError(msg.msgNothingReady);
  }

  $('[data-flow-back]').addEventListener('click', () => {
    showError('');
    show('choose');
  });

  submitButton.addEventListener('click', async () => {
    const body = submission(results.filter((o) => o.ok).map((o) => o.result));
    if (!body.count) return;
    submitButton.disabled = true;
    showError('');
    announce(msg.msgSending);
    let response;
    let data = {};
    try {
      response = await fetch(root.dataset.submitUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      data = await response.json().catch(() => ({}));
    } catch {
      submitButton.disabled = false;
      showError(msg.msgNetwork);
      return;
    }
    if (!response.ok) {
      submitButton.disabled = false;
      showError(data.error || msg.msgNetwork);
      errorBox.focus();
      return;
    }
    // Sent: the files are not needed any more; let go of them and their previews.
    forgetFiles();
    if (root.dataset.mode === 'create') showReceipt(data);
    else root.ownerDocument.defaultView.location.assign(data.done_url || root.dataset.doneUrl);
  });

  // --- Receipt ----------------------------------------------------------------------------
  function showReceipt({ reference, pin }) {
    $('[data-receipt-reference]').textContent = reference;
    $('[data-receipt-pin]').textContent = pin;
    const text = receiptText({ reference, pin }, {
      caseLabel: msg.msgReceiptCase, pinLabel: msg.msgReceiptPin, warning: msg.msgReceiptWarning,
    });
    $('[data-receipt-copy]').addEventListener('click', async () => {
      announce((await copyText(text)) ? msg.msgCopied : msg.msgCopyFailed);
    });
    $('[data-receipt-print]').addEventListener('click', () => root.ownerDocument.defaultView.print());
    $('[data-receipt-save]').addEventListener('click', () => saveText(text, msg.msgReceiptFilename, root.ownerDocument));
    root.classList.add('fp-flow-receipt');
    show('receipt');
  }

  root.hidden = false;
  renderChosen();
}

// Start every flow on the page; under Node (unit tests of the pure functions) there is none.
if (typeof document !== 'undefined') {
  for (const root of document.querySelectorAll('[data-fingerprint-flow]')) initFingerprintFlow(root);
}
