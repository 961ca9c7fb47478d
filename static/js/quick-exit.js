// Quick exit: leave for a neutral site and replace this page in the history, so the Back
// button does not return here. Works from the visible link and from pressing Shift three
// times within a second (the GOV.UK "Exit this page" convention, easy under stress).
'use strict';

const SHIFT_PRESSES = 3;
const WINDOW_MS = 1000;

function exitNow(url) {
  // Clear what this tab kept about the visit before leaving.
  try { sessionStorage.clear(); } catch { /* storage may be disabled */ }
  document.body.classList.add('quick-exit-leaving');
  window.location.replace(url);
}

function init() {
  const link = document.querySelector('[data-quick-exit]');
  if (!link) return;
  const url = link.dataset.exitUrl || link.href;
  link.addEventListener('click', (event) => {
    event.preventDefault();
    exitNow(url);
  });
  let presses = [];
  document.addEventListener('keydown', (event) => {
    // Only Shift pressed on its own counts: Shift+Tab (moving back through the page) must
    // never add up to an exit, so any other key starts the count again.
    if (event.key !== 'Shift') {
      presses = [];
      return;
    }
    if (event.repeat) return;
    const now = Date.now();
    presses = presses.filter((t) => now - t < WINDOW_MS);
    presses.push(now);
    if (presses.length >= SHIFT_PRESSES) exitNow(url);
  });
}

init();
