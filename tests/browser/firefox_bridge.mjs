// Firefox for the Python browser tests, driven over WebDriver BiDi by puppeteer-core (which
// downloads no browser: it starts the one at FIREFOX_PATH, Debian's firefox-esr).
//
// One JSON request a line on stdin, one JSON answer a line on stdout, in order:
//   {"id": 1, "op": "goto", "url": "..."}                 -> {"id": 1, "ok": true, "value": {"status": 200}}
//   {"id": 2, "op": "evaluate", "source": "async (arg) => ...", "arg": ...}
//                                                         -> {"id": 2, "ok": true, "value": <what it returned>}
//   {"id": 3, "op": "close"}                              -> {"id": 3, "ok": true} and the process ends
// Failures answer {"id", "ok": false, "error"}. Every answer carries `errors`: the page errors
// and console errors seen since the previous answer. The first line printed is
// {"ready": true, "version": "firefox/..."} once the browser runs.
import { createInterface } from 'node:readline';

import puppeteer from 'puppeteer-core';

const executablePath = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';

const browser = await puppeteer.launch({
  browser: 'firefox',
  protocol: 'webDriverBiDi',
  executablePath,
  headless: true,
  // puppeteer-core already turns off updates, telemetry and safe browsing; these stop the
  // remaining start-up requests this closed network would refuse.
  extraPrefsFirefox: {
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
    'browser.region.network.url': '',
  },
});
const page = await browser.newPage();
let errors = [];
page.on('pageerror', (e) => errors.push(`pageerror: ${e && e.message ? e.message : e}`));
page.on('console', (m) => {
  if (m.type() === 'error' && !String(m.location().url || '').endsWith('/favicon.ico')) errors.push(`console: ${m.text()}`);
});

const send = (obj) => {
  obj.errors = errors;
  errors = [];
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};

process.stdout.write(`${JSON.stringify({ ready: true, version: await browser.version() })}\n`);

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const msg = JSON.parse(line);
  try {
    if (msg.op === 'goto') {
      const response = await page.goto(msg.url, { waitUntil: 'load' });
      send({ id: msg.id, ok: true, value: { status: response ? response.status() : 0 } });
    } else if (msg.op === 'evaluate') {
      // The argument travels inside the expression as JSON (the files are base64 text).
      const value = await page.evaluate(`(${msg.source})(${JSON.stringify(msg.arg ?? null)})`);
      send({ id: msg.id, ok: true, value: value === undefined ? null : value });
    } else if (msg.op === 'close') {
      await browser.close();
      send({ id: msg.id, ok: true });
      break;
    } else {
      send({ id: msg.id, ok: false, error: `unknown op ${msg.op}` });
    }
  } catch (e) {
    send({ id: msg.id, ok: false, error: String(e && e.stack ? e.stack : e) });
  }
}
if (browser.connected) await browser.close();
