// Drives Debian's chromium (playwright-core) against the /ui page of a
// 3-node cluster that tests/ui/test_ui.py started. Environment:
//   UI_A, UI_B: http://host:port of nodes a and b; UI_TOKEN: the API token;
//   UI_C_PID: node c's pid (killed here); UI_ARTIFACTS: where screenshots go;
//   UI_CHROMIUM: the browser binary.
// Prints one "ok"/"FAIL" line per check; exits 1 if any failed.
import { chromium } from 'playwright-core';
import path from 'node:path';

const A = process.env.UI_A, B = process.env.UI_B, TOKEN = process.env.UI_TOKEN;
const C_PID = Number(process.env.UI_C_PID), OUT = process.env.UI_ARTIFACTS;
const failures = [];
const consoleErrors = [];

function check(cond, what) {
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
  if (!cond) failures.push(what);
}

async function rest(base, method, p, body) {
  const r = await fetch(base + p, {
    method, headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.text() };
}

// Waits for fn() (in the page) to be true; returns the ms it took, or null.
async function waitIn(page, fn, arg, timeout) {
  const t0 = Date.now();
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 20 });
    return Date.now() - t0;
  } catch {
    return null;
  }
}

const rowHasStatus = ([node, status]) => {
  const row = document.querySelector(`#members tbody tr[data-node="${node}"]`);
  return !!row && row.querySelector('.badge').textContent === status;
};
const aliveRows = (n) =>
  [...document.querySelectorAll('#members tbody tr .badge')].filter((b) => b.textContent === 'alive').length === n;
const noHorizontalScroll = () => document.documentElement.scrollWidth <= window.innerWidth;

function watchConsole(page, label) {
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${label}: ${m.text()}`); });
  page.on('pageerror', (e) => consoleErrors.push(`${label}: ${e.message}`));
}

const browser = await chromium.launch({
  executablePath: process.env.UI_CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'],
});
try {
  // --- desktop, 1280 px
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await desk.newPage();
  watchConsole(page, 'desktop');
  await page.goto(A + '/ui');
  check(page.url() === A + '/ui/', `/ui redirects to /ui/ (${page.url()})`);
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 5000 });
  check(await page.isVisible('#login-form'), 'a node with a token asks for it first');
  await page.fill('#token', TOKEN);
  await page.click('#login-form button');
  let t = await waitIn(page, aliveRows, 3, 15000);
  check(t !== null, `three members shown alive (${t} ms)`);
  const owned = await page.$$eval('#members tbody tr', (rs) => rs.map((r) => r.children[3].textContent));
  check(owned.length === 3 && owned.every((x) => /^\d+$/.test(x)), `ownership counts per node (${owned})`);
  t = await waitIn(page, () => document.querySelectorAll('#peers tbody tr code').length === 2, null, 15000);
  check(t !== null, 'replication shows both peers with their Merkle roots');
  const lag = await page.$$eval('#peers tbody tr', (rs) => rs.map((r) => r.children[2].textContent));
  check(lag.length === 2 && lag.every((x) => /^\d+$/.test(x)), `replication lag per peer (${lag})`);
  check(/^[0-9a-f]{16}$/.test(await page.textContent('#digest')), 'this node\'s Merkle root');
  check(/of \d+/.test(await page.textContent('#quota')), `quota use (${await page.textContent('#quota')})`);
  check((await page.textContent('#alerts')).length > 0, 'alerts listed');

  await page.reload();
  t = await waitIn(page, aliveRows, 3, 5000);
  check(t !== null && !(await page.isVisible('#login-form')), 'the token is entered once (kept across a reload)');
  await page.screenshot({ path: path.join(OUT, 'cluster-1280.png'), fullPage: true });

  // --- the feed
  await page.click('nav a[data-view="feed"]');
  t = await waitIn(page, () => document.querySelector('#feed-state').textContent.startsWith('live'), null, 5000);
  check(t !== null, 'the feed connects (WebSocket with the token)');
  let r = await rest(A, 'POST', '/v1/sessions', { id: 'ui-feed-1', variables: { x: 1 } });
  const written = Date.now();
  check(r.status === 201, `REST create on a (${r.status})`);
  t = await waitIn(page, () => !!document.querySelector('#feed tr[data-id="ui-feed-1"]'), null, 1000);
  check(t !== null, `a session written through REST is on the feed within a second (${Date.now() - written} ms)`);
  r = await rest(B, 'POST', '/v1/sessions', { id: 'ui-feed-2' });
  t = await waitIn(page, () => !!document.querySelector('#feed tr[data-id="ui-feed-2"]'), null, 5000);
  const origin = t === null ? null : await page.textContent('#feed tr[data-id="ui-feed-2"] td:nth-child(4)');
  check(origin === 'b', `a write on node b arrives with origin b (${t} ms, origin ${origin})`);

  await page.fill('#feed-prefix', 'ui-only-');
  await page.click('#feed-form button');
  await waitIn(page, () => document.querySelector('#feed-state').textContent.startsWith('live'), null, 5000);
  await rest(A, 'POST', '/v1/sessions', { id: 'ui-feed-3' });
  await rest(A, 'POST', '/v1/sessions', { id: 'ui-only-1' });
  t = await waitIn(page, () => !!document.querySelector('#feed tr[data-id="ui-only-1"]'), null, 2000);
  const filtered = await page.$$eval('#feed tbody tr', (rs) => rs.map((x) => x.dataset.id));
  check(t !== null && !filtered.includes('ui-feed-3'), `the prefix filter (${filtered})`);
  await page.screenshot({ path: path.join(OUT, 'feed-1280.png'), fullPage: true });

  // --- the session browser
  r = await rest(A, 'POST', '/v1/sessions', {
    id: 'ui-browse-1', metadata: { user: 'ann' }, variables: { temperature: 0.7 },
    programs: { 'prog-1': { code: 'print(1)' } },
  });
  check(r.status === 201, `REST create of a full session (${r.status})`);
  await page.click('nav a[data-view="sessions"]');
  await page.fill('#list-prefix', 'ui-');
  await page.click('#list-form button');
  await page.waitForSelector('#session-list button[data-id="ui-browse-1"]', { timeout: 5000 });
  const listed = await page.$$eval('#session-list button', (bs) => bs.map((b) => b.dataset.id));
  check(['ui-browse-1', 'ui-feed-1', 'ui-feed-2', 'ui-feed-3', 'ui-only-1'].every((x) => listed.includes(x)),
    `the list by prefix (${listed})`);
  await page.click('#session-list button[data-id="ui-browse-1"]');
  t = await waitIn(page, () => document.querySelector('#session-detail').textContent.includes('temperature'), null, 5000);
  const detail = await page.textContent('#session-detail');
  check(t !== null && detail.includes('0.7') && detail.includes('prog-1') && detail.includes('print(1)') &&
        detail.includes('ann'), 'an opened session shows its variables, programs and metadata');
  await page.screenshot({ path: path.join(OUT, 'sessions-1280.png'), fullPage: true });

  // --- a killed node shows as dead
  process.kill(C_PID, 'SIGKILL');
  const killed = Date.now();
  await page.click('nav a[data-view="cluster"]');
  t = await waitIn(page, rowHasStatus, ['c', 'dead'], 30000);
  check(t !== null, `a killed node shows as dead (${Date.now() - killed} ms after kill -9)`);
  await page.screenshot({ path: path.join(OUT, 'cluster-dead-1280.png'), fullPage: true });

  // --- a phone-sized screen, same token (storage carried over)
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
    storageState: await desk.storageState(),
  });
  const mp = await phone.newPage();
  watchConsole(mp, 'phone');
  await mp.goto(A + '/ui/#cluster');
  t = await waitIn(mp, () => document.querySelectorAll('#members tbody tr').length === 3, null, 5000);
  check(t !== null && !(await mp.isVisible('#login-form')), 'phone: members shown without a new token');
  for (const view of ['cluster', 'feed', 'sessions']) {
    await mp.click(`nav a[data-view="${view}"]`);
    await mp.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    check(await mp.evaluate(noHorizontalScroll), `phone: the ${view} view fits 390 px without sideways scrolling`);
    await mp.screenshot({ path: path.join(OUT, `${view}-390.png`), fullPage: true });
  }
  check(consoleErrors.length === 0, `no console error (${consoleErrors.join(' | ')})`);
} finally {
  await browser.close();
}
console.log(`${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
