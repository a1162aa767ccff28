// sessionmesh /ui: one page over the node's own API (API.md section 9).
// Reads: /ui/settings.json (does this node want a token?), /v1/cluster and
// /health/sessions every second, the WebSocket feed, and the session list.
// Every value from the node is written with textContent, never as HTML.
'use strict';

const TOKEN_KEY = 'sessionmesh.token';
const FEED_ROWS = 200;       // feed rows kept on the page
const POLL_MS = 1000;
const $ = (sel) => document.querySelector(sel);

const state = {
  token: localStorage.getItem(TOKEN_KEY) || '',
  tokenRequired: false,
  ws: null, feedPrefix: '', feedCursor: null, feedRetry: null,
  listPrefix: '', listCursor: null, openId: null,
  pollTimer: null,
};

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
const badge = (text) => el('span', { class: 'badge ' + text }, text);
const code = (text) => el('code', {}, text);
const ago = (ms) => (ms == null ? 'never' : ms < 1000 ? ms + ' ms ago' : (ms / 1000).toFixed(1) + ' s ago');
const time = (ms) => new Date(ms).toLocaleTimeString();

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => el('tr', {}, ...cells.map((c) => el('td', {}, c)))));
}

class AuthError extends Error {}

async function api(path) {
  const headers = state.token ? { Authorization: 'Bearer ' + state.token } : {};
  const r = await fetch(path, { headers, cache: 'no-store' });
  if (r.status === 401 || r.status === 403) throw new AuthError('the node refused the token');
  const body = await r.json();
  if (!r.ok && !(path === '/health/sessions' && r.status === 503)) {
    throw new Error((body.error && body.error.message) || 'HTTP ' + r.status);
  }
  return body;
}

// --- token

function showLogin(message) {
  stopAll();
  $('#main').hidden = true;
  $('#login').hidden = false;
  $('#forget').hidden = true;
  $('#login-error').textContent = message || '';
  $('#token').focus();
}

function showMain() {
  $('#login').hidden = true;
  $('#main').hidden = false;
  $('#forget').hidden = !state.tokenRequired;
}

$('#login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = $('#token').value.trim();
  localStorage.setItem(TOKEN_KEY, state.token);
  $('#token').value = '';
  start();
});

$('#forget').addEventListener('click', () => {
  localStorage.removeItem(TOKEN_KEY);
  state.token = '';
  showLogin('');
});

// --- views

function route() {
  const view = (location.hash || '#cluster').slice(1);
  const known = ['cluster', 'feed', 'sessions'].includes(view) ? view : 'cluster';
  for (const v of ['cluster', 'feed', 'sessions']) $('#view-' + v).hidden = v !== known;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === known);
  if (known === 'sessions' && !$('#session-list').children.length) listSessions(false);
}
window.addEventListener('hashchange', route);

// --- cluster and health, every second

function renderCluster(cluster, health) {
  $('#node').textContent = cluster.node_id + ' · ' + cluster.adapter;
  const h = $('#health');
  h.className = 'badge ' + health.status;
  h.textContent = health.status;

  const owned = cluster.owned_sessions || {};
  fill($('#members tbody'), cluster.members.map((m) => [
    m.node_id === cluster.node_id ? el('b', {}, m.node_id + ' (this node)') : m.node_id,
    badge(m.status), m.incarnation, owned[m.node_id] == null ? '–' : owned[m.node_id],
    m.http_addr == null ? '–' : m.http_addr, m.gossip_addr == null ? '–' : m.gossip_addr,
  ]));
  for (const row of $('#members tbody').children) row.dataset.node = row.firstChild.textContent.split(' ')[0];

  const peers = (health.replication && health.replication.peers) || [];
  if (!peers.length) {
    fill($('#peers tbody'), [[el('span', { class: 'muted' }, cluster.adapter === 'replicated' ? 'no peers' : 'single node (local adapter)')]]);
  } else {
    fill($('#peers tbody'), peers.map((p) => [
      p.node_id, badge(p.status || 'alive'), p.lag_writes == null ? '–' : p.lag_writes,
      p.in_sync ? 'yes' : 'no', ago(p.last_sync_ms_ago), p.digest ? code(p.digest) : '–',
    ]));
  }
  $('#pending').textContent = health.replication ? health.replication.pending : 0;
  $('#digest').textContent = cluster.digest || 'none (local adapter)';

  const s = health.sessions;
  const limit = s.limit || 0;
  $('#quota').textContent = limit
    ? `${s.live} of ${limit} (${((100 * s.live) / limit).toFixed(1)}%) · ${s.tombstones} tombstones`
    : `${s.live} live, no limit · ${s.tombstones} tombstones`;
  $('#quota-bar').style.width = limit ? Math.min(100, (100 * s.live) / limit) + '%' : '0';
  $('#latency').textContent = `p50 ${health.latency_us.p50} µs · p99 ${health.latency_us.p99} µs`;
  const alerts = health.alerts || [];
  $('#alerts').replaceChildren(...(alerts.length ? alerts.map((a) => el('li', { class: 'error' }, a))
                                                  : [el('li', { class: 'muted' }, 'none')]));
  $('#updated').textContent = new Date().toLocaleTimeString();
}

async function poll() {
  try {
    const [cluster, health] = await Promise.all([api('/v1/cluster'), api('/health/sessions')]);
    renderCluster(cluster, health);
  } catch (e) {
    if (e instanceof AuthError) return showLogin(e.message);
    $('#health').className = 'badge unreachable';
    $('#health').textContent = 'unreachable';
  }
  state.pollTimer = setTimeout(poll, POLL_MS);
}

// --- the change feed

function feedUrl() {
  const q = new URLSearchParams({ prefix: state.feedPrefix });
  if (state.feedCursor) q.set('cursor', state.feedCursor);
  if (state.token) q.set('access_token', state.token);
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/v1/watch?' + q;
}

function feedRow(ev) {
  let what = ev.id || '';
  if (ev.type === 'moved') what = ev.moves.length + ' sessions moved (' + ev.reason + ')';
  if (ev.type === 'synced' || ev.type === 'reset') return;
  const tr = el('tr', { class: 'fresh', 'data-type': ev.type, 'data-id': ev.id || '' },
    el('td', {}, time(Date.now())), el('td', {}, badge(ev.type)), el('td', {}, what),
    el('td', {}, ev.origin || '–'), el('td', {}, ev.version ? code(ev.version) : '–'));
  const body = $('#feed tbody');
  body.prepend(tr);
  while (body.children.length > FEED_ROWS) body.lastChild.remove();
}

function watch() {
  if (state.ws) { state.ws.onclose = null; state.ws.close(); }
  clearTimeout(state.feedRetry);
  $('#feed-state').textContent = 'connecting…';
  const ws = new WebSocket(feedUrl());
  state.ws = ws;
  ws.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.cursor) state.feedCursor = ev.cursor;
    if (ev.type === 'synced') $('#feed-state').textContent = 'live' + (state.feedPrefix ? ' · prefix ' + state.feedPrefix : '');
    if (ev.type === 'reset') $('#feed-state').textContent = 'resynchronising…';
    feedRow(ev);
  };
  ws.onopen = () => { $('#feed-state').textContent = 'live' + (state.feedPrefix ? ' · prefix ' + state.feedPrefix : ''); };
  ws.onclose = (c) => {
    $('#feed-state').textContent = `closed (${c.code}${c.reason ? ' ' + c.reason : ''}); reconnecting`;
    state.feedRetry = setTimeout(watch, 2000);  // resumes from the last cursor
  };
}

$('#feed-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.feedPrefix = $('#feed-prefix').value.trim();
  state.feedCursor = null;
  $('#feed tbody').replaceChildren();
  watch();
});

// --- the session browser

async function listSessions(more) {
  if (!more) { state.listCursor = null; $('#session-list').replaceChildren(); }
  const q = new URLSearchParams({ prefix: state.listPrefix, limit: '50' });
  if (more && state.listCursor) q.set('cursor', state.listCursor);
  try {
    const page = await api('/v1/sessions?' + q);
    for (const s of page.sessions) {
      $('#session-list').append(el('li', {}, el('button', { type: 'button', 'data-id': s.id, onclick: () => openSession(s.id) }, s.id)));
    }
    if (!more && !page.sessions.length) $('#session-list').append(el('li', { class: 'muted' }, 'no sessions'));
    state.listCursor = page.next_cursor;
    $('#more').hidden = !page.next_cursor;
  } catch (e) {
    if (e instanceof AuthError) return showLogin(e.message);
    $('#session-list').replaceChildren(el('li', { class: 'error' }, e.message));
  }
}

function mapTable(title, map) {
  const names = Object.keys(map || {});
  if (!names.length) return [el('h3', {}, title), el('p', { class: 'muted' }, 'none')];
  const t = el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'name'), el('th', {}, 'value'))), el('tbody'));
  fill(t.tBodies[0], names.map((n) => [n, el('pre', {}, JSON.stringify(map[n], null, 2))]));
  return [el('h3', {}, title + ' (' + names.length + ')'), el('div', { class: 'scroll' }, t)];
}

async function openSession(id) {
  state.openId = id;
  for (const b of document.querySelectorAll('#session-list button')) b.classList.toggle('active', b.dataset.id === id);
  const d = $('#session-detail');
  try {
    const s = await api('/v1/sessions/' + encodeURIComponent(id));
    const dl = el('dl', {});
    const row = (k, v) => dl.append(el('dt', {}, k), el('dd', {}, v));
    row('id', s.id);
    row('owner', s.owner);
    row('version', code(s.version));
    row('last worker', s.last_worker_id || '–');
    row('created', new Date(s.created_at_ms).toLocaleString());
    row('expires', new Date(s.expires_at_ms).toLocaleString() + ' (ttl ' + s.ttl_s + ' s)');
    d.replaceChildren(el('h2', {}, s.id), dl, ...mapTable('variables', s.variables),
      ...mapTable('programs', s.programs), ...mapTable('metadata', s.metadata));
  } catch (e) {
    if (e instanceof AuthError) return showLogin(e.message);
    d.replaceChildren(el('p', { class: 'error' }, id + ': ' + e.message));
  }
}

$('#list-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.listPrefix = $('#list-prefix').value.trim();
  listSessions(false);
});
$('#more').addEventListener('click', () => listSessions(true));

// --- start

function stopAll() {
  clearTimeout(state.pollTimer);
  clearTimeout(state.feedRetry);
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
}

async function start() {
  stopAll();
  const settings = await (await fetch('/ui/settings.json', { cache: 'no-store' })).json();
  state.tokenRequired = settings.token_required;
  if (state.tokenRequired && !state.token) return showLogin('');
  try {
    await api('/v1/cluster');  // checks the token before anything else starts
  } catch (e) {
    if (e instanceof AuthError) return showLogin(e.message);
  }
  showMain();
  route();
  poll();
  watch();
}

start();
