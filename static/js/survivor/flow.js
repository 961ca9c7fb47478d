// The on-device fingerprinting flow: choose files (picker or drag and drop), blurred local
// previews, fingerprinting with per-file and overall progress (cancellable), a review, then a
// JSON submission of fingerprints only. Configured entirely by data-* attributes on an element
// with [data-fingerprint-flow] (see templates/survivor/_fingerprint_flow.html), so the survivor
// pages and assisted cases (caseworkers) share it. No inline script or style: CSP holds.
//
// What leaves the device is built in one place, `submission()`: the signal type, value and
// (for PDQ) quality of each fingerprint, and the number of files. Never a File, a name, a
// size, a type or any metadata. File names are not even shown unless the person chooses to
// see a preview; the receipt lists them (with tiny blurred pictures) only if they ask for it.
'use strict';

import { imageSignals, videoSignals } from '../../fingerprint/signals.js';
import { addedText, copyText, drawThumbnail, fmt, receiptText, saveText } from './receipt.js';

export { fmt };

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

/** Whether a fingerprinting outcome is sent: it worked and gave something to send. */
export function isSent(outcome) {
  return Boolean(outcome && outcome.ok && wireFingerprints(outcome.result).length);
}

/**
 * The number each chosen file has on the case page ("File 4"), or null for one that is not
 * sent. The server numbers a case's files in the order they arrive, after the `existing` ones
 * (withdrawn ones too); the flow sends the chosen files in their order, leaving out those that
 * could not be fingerprinted (isSent). `outcomes[i]` is undefined before fingerprinting, when
 * every file is still expected to be sent; removed files are not in the list at all.
 */
export function fileNumbers(outcomes, existing = 0) {
  let next = existing + 1;
  return outcomes.map((outcome) => (outcome === undefined || isSent(outcome) ? next++ : null));
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

  let chosen = []; // {id, file, kind, url, revealed, outcome}
  let nextId = 1;
  let controller = null;
  // The case's files before these (on the add page), so the numbers continue the case's own.
  const existing = Math.max(0, parseInt(root.dataset.existingFiles, 10) || 0);

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
  // "File 2 (Photo)": the number the case page will show, never the file's name.
  const numbers = () => fileNumbers(chosen.map((e) => e.outcome), existing);
  const labelFor = (entry, number) => {
    const kind = entry.kind === 'video' ? msg.msgVideo : msg.msgPhoto;
    return `${number === null ? msg.msgNotSent : fmt(msg.msgFileLabel, { n: number })} (${kind})`;
  };

  function renderChosen() {
    list.replaceChildren();
    const numbered = numbers();
    chosen.forEach((entry, index) => {
      const label = labelFor(entry, numbered[index]);
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
      item.querySelector('[data-item-name]').textContent = label;
      // The picture and the file's name are shown together, only when the person asks: a
      // name such as "court-evidence-3.jpg" can hurt, or tell someone nearby, as a picture can.
      const name = item.querySelector('[data-item-filename]');
      const reveal = item.querySelector('[data-item-reveal]');
      const showRevealed = () => {
        preview.classList.toggle('fp-blurred', !entry.revealed);
        name.textContent = entry.revealed ? entry.file.name : '';
        name.hidden = !entry.revealed;
        reveal.textContent = entry.revealed ? msg.msgHide : msg.msgShow;
        reveal.setAttribute('aria-pressed', String(Boolean(entry.revealed)));
        reveal.setAttribute('aria-label', `${reveal.textContent}: ${label}`);
      };
      showRevealed();
      reveal.addEventListener('click', () => {
        entry.revealed = !entry.revealed;
        showRevealed();
      });
      const remove = item.querySelector('[data-item-remove]');
      remove.textContent = msg.msgRemove;
      remove.setAttribute('aria-label', `${msg.msgRemove}: ${label}`);
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
      chosen.push({ id: nextId++, file, kind, url: URL.createObjectURL(file), revealed: false, outcome: undefined });
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
    // Every file is fingerprinted again: until then each is expected to be sent and numbered.
    for (const entry of chosen) entry.outcome = undefined;
    const numbered = numbers();
    show('progress');
    const rows = chosen.map((entry, index) => {
      const li = root.ownerDocument.createElement('li');
      li.className = 'fp-progress-item';
      const label = root.ownerDocument.createElement('span');
      label.id = `fp-progress-${entry.id}`;
      label.textContent = labelFor(entry, numbered[index]);
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
    chosen.forEach((entry, index) => { entry.outcome = outcomes[index]; });
    // A file that is not sent has no number, and the ones after it move up: the labels say so
    // here and back on the first step, as the case page and the receipt will.
    renderChosen();
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

  const toSend = () => chosen.filter((entry) => isSent(entry.outcome));

  function renderReview() {
    reviewList.replaceChildren();
    const doc = root.ownerDocument;
    const numbered = numbers();
    chosen.forEach((entry, index) => {
      const outcome = entry.outcome;
      const li = doc.createElement('li');
      const title = doc.createElement('p');
      title.className = 'fp-review-title';
      title.textContent = labelFor(entry, numbered[index]);
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
    const body = submission(toSend().map((e) => e.outcome.result));
    submitButton.disabled = body.count === 0;
    if (body.count === 0) showError(msg.msgNothingReady);
  }

  $('[data-flow-back]').addEventListener('click', () => {
    showError('');
    show('choose');
  });

  submitButton.addEventListener('click', async () => {
    const sending = toSend();
    const body = submission(sending.map((e) => e.outcome.result));
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
    // Sent: the previews are not needed any more; let go of them. Only the numbers, names and
    // files of what was sent are kept, in this page, for the receipt's optional list (its
    // pictures are drawn from the files only if the person asks for them).
    const sent = sending.map((entry, index) => ({
      number: existing + index + 1, name: entry.file.name, file: entry.file, kind: entry.kind,
    }));
    forgetFiles();
    if (root.dataset.mode === 'create') showReceipt(data, sent);
    else showAdded(data, sent);
  });

  // --- Receipt ----------------------------------------------------------------------------
  /**
   * The optional list of the files sent: number, name and a tiny blurred picture, made on this
   * device when the box is ticked (unticked by default: someone else may find a printed
   * receipt). Returns what the text versions list: whether it is ticked, and the files'
   * numbers with their names only when it is.
   */
  function filesOption(sent) {
    const toggle = $('[data-receipt-files-toggle]');
    const listing = $('[data-receipt-files]');
    const doc = root.ownerDocument;
    toggle.checked = false;
    listing.hidden = true;
    let drawn = false;
    toggle.addEventListener('change', () => {
      listing.hidden = !toggle.checked;
      if (!toggle.checked || drawn) return;
      drawn = true;
      for (const entry of sent) {
        const li = doc.createElement('li');
        const picture = doc.createElement('span');
        picture.className = 'receipt-thumbnail';
        picture.setAttribute('aria-hidden', 'true');
        const number = doc.createElement('span');
        number.className = 'receipt-file-number';
        number.textContent = fmt(msg.msgFileLabel, { n: entry.number });
        const name = doc.createElement('span');
        name.className = 'receipt-file-name';
        name.textContent = entry.name;
        li.append(picture, number, name);
        listing.appendChild(li);
        drawThumbnail(entry.file, entry.kind, doc).then((canvas) => {
          if (canvas) picture.appendChild(canvas);
          li.dataset.thumbnail = canvas ? 'drawn' : 'none';
          entry.file = null; // drawn once; the file itself is not needed any more
        });
      }
    });
    return {
      ticked: () => toggle.checked,
      files: () => sent.map(({ number, name }) => ({ number, name: toggle.checked ? name : '' })),
    };
  }

  function receiptActions(textOf, filename) {
    $('[data-receipt-copy]').addEventListener('click', async () => {
      announce((await copyText(textOf())) ? msg.msgCopied : msg.msgCopyFailed);
    });
    $('[data-receipt-print]').addEventListener('click', () => root.ownerDocument.defaultView.print());
    $('[data-receipt-save]').addEventListener('click', () => saveText(textOf(), filename, root.ownerDocument));
  }

  function showReceipt({ reference, pin }, sent) {
    $('[data-receipt-reference]').textContent = reference;
    $('[data-receipt-pin]').textContent = pin;
    const option = filesOption(sent);
    const labels = {
      caseLabel: msg.msgReceiptCase, pinLabel: msg.msgReceiptPin, warning: msg.msgReceiptWarning, fileLabel: msg.msgFileLabel,
    };
    // Without the option, the text is the case number, the PIN and the warning only.
    receiptActions(() => receiptText({ reference, pin }, labels, option.ticked() ? option.files() : []), msg.msgReceiptFilename);
    root.classList.add('fp-flow-receipt');
    show('receipt');
  }

  /** After adding files: the same optional list for the new files, then back to the case. */
  function showAdded(data, sent) {
    const option = filesOption(sent);
    $('[data-added-back]').href = data.done_url || root.dataset.doneUrl;
    const labels = { heading: msg.msgAddedHeading, fileLabel: msg.msgFileLabel };
    receiptActions(() => addedText(option.files(), labels), msg.msgAddedFilename);
    root.classList.add('fp-flow-receipt');
    show('added');
  }

  root.hidden = false;
  renderChosen();
}

// Start every flow on the page; under Node (unit tests of the pure functions) there is none.
if (typeof document !== 'undefined') {
  for (const root of document.querySelectorAll('[data-fingerprint-flow]')) initFingerprintFlow(root);
}
