// edgetriage station dashboard: plain script, no framework, no CDN.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { me: null, es: null, preview: null, live: null, items: [] };

function cookie(name) {
  const m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
  return m ? decodeURIComponent(m[1]) : '';
}

// api calls the JSON API; state changes carry the CSRF token.
async function api(method, path, body, headers) {
  const h = Object.assign({}, headers || {});
  if (method !== 'GET') h['X-CSRF-Token'] = cookie('et_csrf');
  if (body !== undefined && !h['Content-Type']) { h['Content-Type'] = 'application/json'; body = JSON.stringify(body); }
  const res = await fetch(path, { method, headers: h, body, credentials: 'same-origin' });
  if (res.status === 401 && !path.startsWith('/api/v1/login')) { showLogin(); throw new Error('not logged in'); }
  return res;
}

async function errorText(res) {
  try { return (await res.json()).error || res.statusText; } catch (e) { return res.statusText; }
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') e.style.cssText = v; // CSSOM, allowed by the page's CSP where a style attribute is not
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

function fmtTime(s) { return s ? s.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }
function fmtBytes(n) {
  if (n == null) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB']; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + u[i];
}
function short(d) { return d ? d.slice(0, 12) : ''; }

function show(view) {
  for (const v of ['login', 'dash', 'item', 'enrol', 'admin']) $('#view-' + v).hidden = v !== view;
}

function showLogin() {
  // A late request failing with 401 after logout lands here again; it must
  // not wipe what the next user is typing.
  if (!$('#view-login').hidden && !$('#login-form').hidden) return;
  state.me = null;
  state.item = null;
  clearTimeout(state.reload); clearTimeout(state.reloadItem);
  if (state.es) { state.es.close(); state.es = null; }
  $('#live').classList.add('off');
  $('#who').textContent = ''; $('#logout').hidden = true;
  $('#nav-admin').hidden = true; $('#nav-security').hidden = true;
  $('#login-user').value = ''; $('#login-pass').value = '';
  $('#login-form').hidden = false; $('#code-form').hidden = true;
  $('#feed').replaceChildren();
  closeLive(); // the appliance ends the view itself with the session
  show('login');
  $('#login-user').focus();
}

async function login(ev) {
  ev.preventDefault();
  $('#login-error').textContent = '';
  const res = await api('POST', '/api/v1/login', { user: $('#login-user').value, password: $('#login-pass').value });
  if (!res.ok) { $('#login-error').textContent = await errorText(res); return; }
  $('#login-pass').value = '';
  state.me = await res.json();
  start();
}

// ---- second factor: the code step of a login, and enrolment ----
function showCodeStep() {
  show('login');
  $('#login-form').hidden = true; $('#code-form').hidden = false;
  $('#code-error').textContent = ''; $('#login-code').value = '';
  $('#webauthn-login').hidden = !webauthnOffered();
  $('#login-code').focus();
}

async function sendCode(ev) {
  ev.preventDefault();
  $('#code-error').textContent = '';
  const res = await api('POST', '/api/v1/login/code', { code: $('#login-code').value.trim() });
  $('#login-code').value = '';
  if (!res.ok) { $('#code-error').textContent = await errorText(res); if (res.status === 401 && /ended/.test($('#code-error').textContent)) showLogin(); return; }
  state.me = await res.json();
  start();
}

function showEnrol() {
  show('enrol');
  const forced = state.me.stage === 'enrol';
  const has = state.me.second_factors || [];
  $('#enrol-title').textContent = forced ? 'Set up a second factor' : 'Your second factors';
  $('#enrol-why').textContent = forced
    ? 'Your role (' + state.me.role + ') signs in with a password and a second factor. Set one up to continue.'
    : (has.length ? 'In use: ' + has.join(', ') + '; ' + state.me.recovery_codes_left + ' recovery code(s) left. Setting up an app again replaces the old one.' : 'None yet.');
  $('#enrol-start').hidden = false; $('#totp-form').hidden = true; $('#recovery').hidden = true;
  $('#webauthn-box').hidden = !webauthnOffered();
  $('#enrol-error').textContent = '';
}

async function beginTOTP() {
  $('#enrol-error').textContent = '';
  const res = await api('POST', '/api/v1/me/totp');
  if (!res.ok) { $('#enrol-error').textContent = await errorText(res); return; }
  const enr = await res.json();
  $('#totp-qr').src = enr.qr;
  $('#totp-secret').textContent = enr.secret;
  $('#totp-code').value = '';
  $('#enrol-start').hidden = true; $('#totp-form').hidden = false;
  $('#totp-code').focus();
}

async function confirmTOTP(ev) {
  ev.preventDefault();
  $('#enrol-error').textContent = '';
  const res = await api('POST', '/api/v1/me/totp/confirm', { code: $('#totp-code').value.trim() });
  if (!res.ok) { $('#enrol-error').textContent = await errorText(res); return; }
  const body = await res.json();
  state.me = body.me;
  showRecovery(body.recovery_codes);
}

function showRecovery(codes) {
  $('#totp-form').hidden = true; $('#enrol-start').hidden = true;
  $('#recovery-codes').replaceChildren(...(codes || []).map((c) => el('li', { text: c })));
  $('#recovery').hidden = !(codes && codes.length);
  if (!$('#recovery').hidden) return;
  enrolDone();
}

// Security keys (WebAuthn), where the browser has the JSON helpers and the
// appliance is reached by a host name.
function webauthnOffered() {
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON || !state.me || !state.me.webauthn_available) return false;
  if (state.me.stage === 'second-factor') return (state.me.second_factors || []).includes('webauthn');
  return true;
}

async function registerKey() {
  $('#enrol-error').textContent = '';
  try {
    const res = await api('POST', '/api/v1/me/webauthn/register');
    if (!res.ok) throw new Error(await errorText(res));
    const opts = await res.json();
    const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts.publicKey) });
    const fin = await api('POST', '/api/v1/me/webauthn/register/finish?name=' + encodeURIComponent($('#key-name').value.trim()), cred.toJSON());
    if (!fin.ok) throw new Error(await errorText(fin));
    const body = await fin.json();
    state.me = body.me;
    showRecovery(body.recovery_codes);
  } catch (e) { $('#enrol-error').textContent = String(e.message || e); }
}

async function loginWithKey() {
  $('#code-error').textContent = '';
  try {
    const res = await api('POST', '/api/v1/login/webauthn');
    if (!res.ok) throw new Error(await errorText(res));
    const opts = await res.json();
    const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts.publicKey) });
    const fin = await api('POST', '/api/v1/login/webauthn/finish', cred.toJSON());
    if (!fin.ok) throw new Error(await errorText(fin));
    state.me = await fin.json();
    start();
  } catch (e) { $('#code-error').textContent = String(e.message || e); }
}

function enrolDone() { location.hash = '#/'; start(); }

async function logout() {
  await stopPreview();
  await api('POST', '/api/v1/logout');
  showLogin();
}

function start() {
  $('#who').textContent = state.me.name + ' (' + state.me.role + ')';
  $('#logout').hidden = false;
  if (state.me.stage === 'second-factor') return showCodeStep();
  if (state.me.stage === 'enrol') return showEnrol();
  $('#nav-admin').hidden = !state.me.can_administer;
  $('#nav-security').hidden = false;
  connectEvents();
  route();
}

// ---- live updates ----
function connectEvents() {
  if (state.es || state.me.role === 'central') return;
  const es = new EventSource('/api/v1/events');
  state.es = es;
  es.onopen = () => $('#live').classList.remove('off');
  es.onerror = () => $('#live').classList.add('off');
  es.addEventListener('status', (e) => renderStatus(JSON.parse(e.data)));
  es.addEventListener('custody', (e) => onCustody(JSON.parse(e.data)));
}

function onCustody(ev) {
  const feed = $('#feed');
  const d = ev.details || {};
  const what = [ev.action, ev.item ? short(ev.item) : '', d.result || d.variant || d.source || d.camera || ''].filter(Boolean).join(' · ');
  feed.prepend(el('li', {}, el('span', { class: 'muted', text: fmtTime(ev.time).slice(11, 19) + ' ' }), ev.actor + ': ' + what));
  while (feed.children.length > 80) feed.lastChild.remove();
  if (state.item && ev.item === state.item.digest && !$('#view-item').hidden) {
    clearTimeout(state.reloadItem); state.reloadItem = setTimeout(() => loadItem(state.item.digest), 300);
  }
  if (['ingested', 'redacted', 'triaged', 'flagged', 'record-changed'].includes(ev.action) && !$('#view-dash').hidden) {
    clearTimeout(state.reload); state.reload = setTimeout(loadItems, 500);
  }
}

function notConfigured(box, what) {
  box.replaceChildren(el('div', { class: 'notconf', text: what + ' not configured on this appliance' }));
}

function stateTag(s) { return s ? el('span', { class: 'state ' + String(s).toLowerCase(), text: s }) : null; }

function progress(done, total) {
  if (!total) return null;
  const pct = Math.max(0, Math.min(100, 100 * done / total));
  const bar = el('div', { class: 'bar', title: pct.toFixed(0) + '%' }); bar.append(el('i', { style: 'width:' + pct + '%' }));
  return bar;
}

function asList(v) { return Array.isArray(v) ? v : (v && Array.isArray(v.bays) ? v.bays : (v && Array.isArray(v.cameras) ? v.cameras : (v ? [v] : []))); }

function renderDock(v) {
  const box = $('#dock');
  if (v == null) return notConfigured(box, 'Docks');
  const bays = asList(v);
  if (!bays.length) return box.replaceChildren(el('div', { class: 'muted', text: 'no bays' }));
  box.replaceChildren(...bays.map((b) => {
    const who = [b.camera, b.officer].filter(Boolean).join(' · ');
    const sub = b.bytes_total ? fmtBytes(b.bytes_done) + ' / ' + fmtBytes(b.bytes_total) + (b.files_total ? ' · ' + (b.files_done || 0) + '/' + b.files_total + ' files' : '') : '';
    return el('div', { class: 'row' },
      el('div', { class: 'top' }, el('b', { text: 'Bay ' + (b.bay ?? b.name ?? '?') }), stateTag(b.state)),
      who ? el('div', { class: 'sub muted', text: who }) : null,
      progress(b.bytes_done, b.bytes_total), sub ? el('div', { class: 'muted', text: sub }) : null,
      b.error ? el('div', { class: 'error', text: b.error }) : null);
  }));
}

function renderCameras(v) {
  const box = $('#cameras');
  if (v == null) return notConfigured(box, 'Cameras');
  const cams = asList(v);
  if (!cams.length) return box.replaceChildren(el('div', { class: 'muted', text: 'no cameras' }));
  box.replaceChildren(...cams.map((c) => {
    const gaps = c.gaps || [];
    return el('div', { class: 'row' },
      el('div', { class: 'top' }, el('b', { text: c.name || c.id || '?' }), stateTag(c.state)),
      c.last_segment_at ? el('div', { class: 'muted last-segment', text: 'last segment sealed ' + fmtTime(c.last_segment_at) }) : null,
      gaps.length ? el('div', { class: 'muted', text: gaps.length + ' gap(s), last ' + fmtTime(gaps[gaps.length - 1].start) }) : null,
      c.error ? el('div', { class: 'error', text: c.error }) : null,
      el('button', { class: 'live-btn', 'data-camera': c.name, title: 'watch this camera live (recorded in the custody chain)', text: 'Live' }));
  }));
}

function renderSync(v) {
  const box = $('#sync');
  if (v == null) return notConfigured(box, 'Sync');
  const kids = [el('div', { class: 'row' },
    el('div', { text: (v.pending ?? '?') + ' pending · ' + (v.in_flight ?? 0) + ' uploading' }),
    v.rate_bytes_per_s != null ? el('div', { class: 'muted', text: fmtBytes(v.rate_bytes_per_s) + '/s' }) : null,
    v.last_error ? el('div', { class: 'error', text: v.last_error }) : null)];
  if (!(v.queue || []).length) {
    kids.push(el('div', { class: 'row muted sync-empty', text: 'Queue empty: nothing is waiting to go to central storage.' }));
  }
  for (const q of (v.queue || []).slice(0, 20)) {
    kids.push(el('div', { class: 'row' }, el('div', { class: 'top' }, el('span', { class: 'digest', text: short(q.item) }), stateTag(q.state)), progress(q.bytes_done, q.bytes_total)));
  }
  box.replaceChildren(...kids);
}

function renderAlarms(v) {
  const box = $('#alarms');
  if (v == null) return notConfigured(box, 'Health monitoring');
  const list = asList(v);
  if (!list.length) return box.replaceChildren(el('div', { class: 'muted', text: 'no alarms' }));
  box.replaceChildren(...list.map((a) => el('div', { class: 'row' },
    el('div', { class: 'top' }, el('span', { text: a.message || JSON.stringify(a) }), stateTag(a.severity)),
    a.since ? el('div', { class: 'muted', text: 'since ' + fmtTime(a.since) }) : null)));
}

function renderStatus(s) {
  renderDock(s.dock); renderCameras(s.cameras); renderSync(s.sync); renderAlarms(s.alarms);
  $('#keyfp').textContent = (s.key_fingerprint || '').replace(/(.{8})(?!$)/g, '$1 ');
}

// ---- items ----
// motionSegments reads the motion label triage leaves: "start-end,..." in
// seconds from the start of the clip.
function motionSegments(it) {
  const l = (it.labels || {})['motion.segments'] || (it.labels || {}).motion_segments;
  if (!l) return null;
  return l.split(/[,;]/).map((p) => p.split('-').map(Number)).filter((p) => p.length === 2 && p.every(isFinite));
}

function timeline(it, cls) {
  const segs = motionSegments(it);
  const dur = (it.media || {}).duration_s;
  const bar = el('div', { class: 'timeline ' + (cls || '') });
  if (!segs || !dur) { bar.classList.add('none'); bar.title = 'no motion triage yet'; return bar; }
  bar.title = segs.length + ' motion segment(s)';
  for (const [a, b] of segs) bar.append(el('i', { style: 'left:' + (100 * a / dur) + '%;width:' + Math.max(0.5, 100 * (b - a) / dur) + '%' }));
  return bar;
}

function itemRow(it) {
  const thumb = el('div', { class: 'thumb' });
  if (it.thumbnail) thumb.append(el('img', { src: '/api/v1/items/' + it.thumbnail + '/thumbnail', alt: '' }));
  else thumb.textContent = it.kind || 'item';
  const name = (it.original_name || '').split('/').pop() || short(it.digest);
  const m = it.media || {};
  const sub = [it.source, it.officer, fmtTime(it.time), m.duration_s ? m.duration_s.toFixed(1) + ' s' : '', m.video_codec].filter(Boolean).join(' · ');
  const tags = el('div', {});
  for (const f of it.flags || []) tags.append(el('span', { class: 'flag', text: f }));
  if (it.hold) tags.append(el('span', { class: 'flag hold', text: 'hold' }));
  if (it.redacted_copy) tags.append(el('span', { class: 'flag', text: 'redacted copy' }));
  for (const p of it.problems || []) tags.append(el('span', { class: 'state error', text: p.code }));
  const a = el('a', { class: 'item', href: '#/item/' + it.digest, 'data-digest': it.digest },
    thumb,
    el('div', {}, el('div', { class: 'name', text: name }), el('div', { class: 'sub', text: sub }), timeline(it), tags),
    el('div', { class: 'digest muted', text: short(it.digest) }));
  return a;
}

// renderFlagChips lists the flags among the results; a click filters by one.
function renderFlagChips(flags) {
  const input = $('#search [name=flag]');
  const chips = Object.entries(flags).sort((a, b) => b[1] - a[1]).map(([name, n]) => {
    const b = el('button', { type: 'button', class: input.value === name ? 'on' : '', text: name + ' ' + n });
    b.addEventListener('click', () => { input.value = input.value === name ? '' : name; loadItems(); });
    return b;
  });
  $('#flag-chips').replaceChildren(...chips);
}

async function loadItems() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($('#search'))) if (v) q.set(k, v);
  const res = await api('GET', '/api/v1/items?' + q);
  if (!res.ok) { $('#items').replaceChildren(el('div', { class: 'error', text: await errorText(res) })); return; }
  const body = await res.json();
  $('#item-count').textContent = body.total + ' item(s)';
  renderFlagChips(body.flags || {});
  $('#items').replaceChildren(...(body.items.length ? body.items.map(itemRow) : [el('div', { class: 'muted', text: 'no items match' })]));
}

// ---- item page ----
async function loadItem(digest) {
  const res = await api('GET', '/api/v1/items/' + digest);
  if (!res.ok) { $('#item-title').textContent = await errorText(res); return; }
  const { item, events, derived, parent, reviews } = await res.json();
  state.item = item;
  $('#item-title').textContent = (item.original_name || '').split('/').pop() || short(item.digest);
  const m = item.media || {};
  const rows = [
    ['digest', el('span', { class: 'digest', text: item.digest })],
    ['kind', item.kind + (item.relation ? ' (' + item.relation + ' of ' + short(item.parent) + ')' : '')],
    ['size', fmtBytes(item.size)], ['state', item.state], ['source', item.source], ['officer', item.officer],
    ['original name', item.original_name], ['captured', [fmtTime(item.captured_start), fmtTime(item.captured_end)].filter(Boolean).join(' – ')],
    ['ingested', fmtTime(item.ingested_at)],
    ['media', [m.container, m.video_codec, m.width && m.width + '×' + m.height, m.frame_rate && m.frame_rate.toFixed(2) + ' fps', m.duration_s && m.duration_s.toFixed(2) + ' s'].filter(Boolean).join(' · ')],
    ['hold', item.hold ? 'yes' : 'no'],
    ['flags', (item.flags || []).join(', ')],
    ['problems', (item.problems || []).map((p) => p.code + (p.detail ? ': ' + p.detail : '')).join('; ')],
    ['labels', Object.entries(item.labels || {}).map(([k, v]) => k + '=' + v).join(', ')],
  ];
  if (parent) rows.push(['parent', el('a', { href: '#/item/' + parent.digest, class: 'digest', text: parent.digest })]);
  $('#item-meta').replaceChildren(...rows.filter((r) => r[1]).map(([k, v]) => el('tr', {}, el('td', { text: k }), el('td', {}, v))));
  $('#item-timeline').replaceWith(Object.assign(timeline(item, 'big'), { id: 'item-timeline' }));
  renderDerived(item, derived || [], reviews || {});
  loadReview(item);
  $('#item-events').replaceChildren(el('tr', {}, el('th', { text: '#' }), el('th', { text: 'time' }), el('th', { text: 'actor' }), el('th', { text: 'action' }), el('th', { text: 'details' })),
    ...(events || []).slice().reverse().map((e) => el('tr', {}, el('td', { text: e.seq }), el('td', { text: fmtTime(e.time) }), el('td', { text: e.actor }), el('td', { text: e.action }),
      el('td', { class: 'det', text: Object.entries(e.details || {}).filter(([k]) => k !== 'record').map(([k, v]) => k + '=' + v).join(' ') }))));
  const orig = $('#variant option[value=original]');
  orig.disabled = !state.me.can_view_original;
  if (!state.me.can_view_original) $('#variant').value = 'redacted';
  renderHoldBox(item);
  renderAssignBox(item);
  const exp = $('#export');
  exp.disabled = !state.me.can_export;
  $('#export-note').textContent = !state.me.export_available ? 'export bundles are not available on this appliance yet' : (state.me.can_export ? '' : 'investigators only');
}

function renderDerived(item, derived, reviews) {
  const box = $('#item-derived');
  const rows = derived.slice();
  if (item.relation === 'redacted') rows.unshift(Object.assign({}, item, { relation: 'redacted (this item)' }));
  if (!rows.length) { box.replaceChildren(el('div', { class: 'muted', text: 'none (no redacted copy, thumbnail or triage output yet)' })); return; }
  const t = el('table', { class: 'events' }, el('tr', {}, el('th', { text: 'relation' }), el('th', { text: 'kind' }), el('th', { text: 'digest' }), el('th', { text: 'labels' }), el('th', { text: 'reviewer sign-off' })));
  for (const d of rows) {
    const signs = reviews[d.digest];
    let review = null;
    if (signs) {
      review = el('div', {}, signs.length ? signs.map((e) => e.actor.replace(/^user:/, '') + ' ' + fmtTime(e.time).slice(0, 16)).join(', ') : 'not signed off');
      if (state.me.can_sign_off) {
        const b = el('button', { class: 'signoff', 'data-digest': d.digest, text: 'Sign off' });
        b.addEventListener('click', () => signOff(d.digest));
        review.append(' ', b);
      }
    }
    t.append(el('tr', {}, el('td', { text: d.relation || '' }), el('td', { text: d.kind }),
      el('td', {}, el('a', { href: '#/item/' + d.digest, class: 'digest', text: short(d.digest) })),
      el('td', { class: 'det', text: Object.entries(d.labels || {}).map(([k, v]) => k + '=' + v).join(' ') }),
      el('td', {}, review)));
  }
  box.replaceChildren(t);
}

// ---- holds and categories ----
function renderHoldBox(item) {
  $('#hold-box').hidden = !state.me.can_hold;
  $('#hold-error').textContent = '';
  $('#hold-toggle').textContent = item.hold ? 'Lift hold' : 'Put on hold';
  $('#category').value = (item.labels || {}).category || '';
}

// A camera that described nothing was stored under its device identity
// with nobody named: staff name the officer (and camera) for every item of
// that device at once, each change a custody event.
function renderAssignBox(item) {
  const labels = item.labels || {};
  const box = $('#assign-box');
  box.hidden = !(labels.unidentified && state.me.can_assign);
  $('#assign-error').textContent = '';
  if (box.hidden) return;
  const done = state.assigned && state.assigned.device === item.source ? ' ' + state.assigned.text : '';
  $('#assign-note').textContent = 'Unidentified device ' + item.source + ' (identified by ' + labels.unidentified + '): name the officer for all of its footage.' + done;
  // Filled once per item: the page is drawn again as events arrive, and
  // what someone is typing must survive that.
  if (state.assignFor === item.digest) return;
  state.assignFor = item.digest;
  $('#assign-officer').value = item.officer || '';
  $('#assign-camera').value = labels.camera || '';
}

async function assignDevice() {
  $('#assign-error').textContent = '';
  const body = { officer: $('#assign-officer').value.trim(), camera: $('#assign-camera').value.trim() };
  const res = await api('POST', '/api/v1/devices/' + encodeURIComponent(state.item.source) + '/assign', body);
  if (!res.ok) { $('#assign-error').textContent = await errorText(res); return; }
  const done = await res.json();
  // Kept in state: the page is drawn again as the custody events arrive.
  state.assigned = { device: done.device, text: (done.assigned || []).length + ' item(s) of ' + done.device + ' assigned to ' + body.officer + '.' };
  loadItem(state.item.digest);
}

async function changeItem(what, body) {
  $('#hold-error').textContent = '';
  body.reason = $('#change-reason').value;
  const res = await api('PUT', '/api/v1/items/' + state.item.digest + '/' + what, body);
  if (!res.ok) { $('#hold-error').textContent = await errorText(res); return; }
  loadItem(state.item.digest);
}

// The review queue of the item's redacted copy: a timeline with its stops
// (ranked by risk) above the stretches where someone may be speaking, and a
// list to step through, each stop with why it is there and, for those who
// may sign off, Accept (an edit naming the stop; fixing it with a box edit
// that names it resolves it too).
async function loadReview(item) {
  const box = $('#item-review');
  const res = await api('GET', '/api/v1/items/' + item.digest + '/review');
  if (!res.ok) { box.replaceChildren(el('div', { class: 'muted', text: await errorText(res) })); return; }
  const rv = await res.json();
  const dur = rv.duration_s || 1;
  const pct = (s) => (100 * Math.max(0, Math.min(s, dur)) / dur).toFixed(2) + '%';
  const pending = new Set(rv.pending || []);
  const entries = (rv.review && rv.review.entries) || [];
  const lane = (cls, spans, title) => el('div', { class: 'rv-lane ' + cls, title },
    ...spans.map((s) => el('i', { class: s.cls || '', title: s.title || '', style: 'left:' + pct(s.start_s) + ';width:calc(' + pct(s.end_s - s.start_s) + ' + 2px)' })));
  const stops = entries.map((e) => ({ start_s: e.start_s, end_s: e.end_s, cls: 'rv-stop' + (pending.has(e.id) ? '' : ' done'), title: '#' + e.rank + ': ' + e.why[0].text }));
  const speech = ((rv.speech && rv.speech.spans) || []).map((s) => ({ start_s: s.start_s, end_s: s.end_s, cls: 'rv-speech', title: 'speech ' + s.start_s.toFixed(1) + '-' + s.end_s.toFixed(1) + ' s' }));
  const list = el('table', { class: 'events' }, el('tr', {}, el('th', { text: '#' }), el('th', { text: 'time' }), el('th', { text: 'why' }), el('th', { text: '' })));
  for (const e of entries) {
    const act = el('td', {});
    if (!pending.has(e.id)) act.append('resolved ');
    else if (state.me.can_sign_off) {
      const b = el('button', { class: 'accept', 'data-entry': e.id, text: 'Accept' });
      b.addEventListener('click', () => acceptStop(rv, e));
      act.append(b, ' ');
    }
    if (state.me.can_sign_off) act.append(...boxActions(rv, e));
    list.append(el('tr', {}, el('td', { text: e.rank }), el('td', { text: e.start_s.toFixed(1) + '-' + e.end_s.toFixed(1) + ' s' }),
      el('td', { class: 'det', text: e.why.map((w) => w.text).join(' · ') }), act));
  }
  const audio = el('table', { class: 'events' }, el('tr', {}, el('th', { text: 'speech' }), el('th', { text: '' })));
  const edited = (rv.edits || []).filter((x) => x.op === 'mute' || x.op === 'bleep');
  for (const s of (rv.speech && rv.speech.spans) || []) {
    const done = edited.find((x) => x.start_s <= s.start_s && x.end_s >= s.end_s);
    const act = el('td', {}, done ? done.op + 'd' : '');
    if (!done && state.me.can_sign_off) {
      for (const op of ['mute', 'bleep']) {
        const b = el('button', { class: 'audio-' + op, 'data-start': s.start_s, text: op[0].toUpperCase() + op.slice(1) });
        b.addEventListener('click', () => audioEdit(rv, op, s));
        act.append(b, ' ');
      }
    }
    audio.append(el('tr', {}, el('td', { text: s.start_s.toFixed(2) + '-' + s.end_s.toFixed(2) + ' s' }), act));
  }
  box.replaceChildren(
    el('div', { class: 'muted', text: (rv.review.message || '') + ' · ' + pending.size + ' to resolve before sign-off' + (rv.speech && rv.speech.error ? ' · speech map: ' + rv.speech.error : '') }),
    el('div', { class: 'rv-timeline' }, lane('stops', stops, 'review stops'), lane('speech', speech, 'speech present')),
    el('div', { class: 'rv-legend muted', text: '0 s — review stops (red: to resolve) above, speech (blue) below — ' + dur.toFixed(1) + ' s' }),
    list, audio);
}

// audioEdit mutes or bleeps a stretch of speech in the next rendered copy.
async function audioEdit(rv, op, span) {
  const edits = (rv.edits || []).concat([{ op, start_s: span.start_s, end_s: span.end_s }]);
  const res = await api('PUT', '/api/v1/items/' + rv.master + '/redaction-edits', edits);
  if (!res.ok) { $('#preview-error').textContent = await errorText(res); return; }
  loadItem(state.item.digest);
}

// boxActions are a stop's box fixes, each an edit over the stop's time
// that names it (and so resolves it): Remove for each box on the stop's
// frame, and Add for a box typed as "x y w h" in the frame's pixels,
// offered as the stop's first box grown by half (a lost track's next
// position is near its last).
function boxActions(rv, e) {
  const out = [];
  for (const b of e.boxes || []) {
    const rm = el('button', { class: 'remove-box', 'data-entry': e.id, 'data-track': b.track, text: 'Remove ' + b.kind + ' box ' + b.track });
    rm.addEventListener('click', () => boxEdit(rv, e, 'remove', b.box));
    out.push(rm, ' ');
  }
  const first = (e.boxes || [])[0];
  const guess = first ? [first.box.x - first.box.w / 4, first.box.y - first.box.h / 4, first.box.w * 1.5, first.box.h * 1.5].map((v) => Math.max(0, Math.round(v))).join(' ') : '';
  const input = el('input', { class: 'add-box', 'data-entry': e.id, size: 14, placeholder: 'x y w h', title: 'box to add: x y w h in the frame\'s pixels', value: guess });
  const add = el('button', { class: 'add-box', 'data-entry': e.id, text: 'Add box' });
  add.addEventListener('click', () => {
    const v = input.value.trim().split(/[\s,]+/).map(Number);
    if (v.length !== 4 || !v.every(Number.isInteger) || v[0] < 0 || v[1] < 0 || v[2] <= 0 || v[3] <= 0) {
      $('#preview-error').textContent = 'a box is four whole numbers, x y w h, with w and h above 0; got "' + input.value + '"';
      return;
    }
    boxEdit(rv, e, 'add', { x: v[0], y: v[1], w: v[2], h: v[3] });
  });
  out.push(input, ' ', add);
  return out;
}

async function boxEdit(rv, e, op, box) {
  const edits = (rv.edits || []).concat([{ op, start_s: e.start_s, end_s: e.end_s, box, entry: e.id }]);
  const res = await api('PUT', '/api/v1/items/' + rv.master + '/redaction-edits', edits);
  if (!res.ok) { $('#preview-error').textContent = await errorText(res); return; }
  loadItem(state.item.digest);
}

async function acceptStop(rv, e) {
  const edits = (rv.edits || []).concat([{ op: 'accept', start_s: e.start_s, end_s: e.end_s, entry: e.id }]);
  const res = await api('PUT', '/api/v1/items/' + rv.master + '/redaction-edits', edits);
  if (!res.ok) { $('#preview-error').textContent = await errorText(res); return; }
  loadItem(state.item.digest);
}

async function signOff(digest) {
  const note = window.prompt('Sign off this redacted copy as reviewed. Note (optional):', '');
  if (note === null) return;
  const res = await api('POST', '/api/v1/items/' + digest + '/signoff', { note });
  if (!res.ok) { $('#preview-error').textContent = await errorText(res); return; }
  loadItem(state.item.digest);
}

// ---- preview (WHEP-style) ----
function setPreviewUI(running) {
  $('#preview-start').disabled = running;
  for (const id of ['#preview-stop', '#pause', '#play', '#seek']) $(id).disabled = !running;
}

async function startPreview() {
  $('#preview-error').textContent = '';
  await stopPreview();
  const digest = state.item.digest;
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  const video = $('#video');
  pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); video.play().catch(() => {}); };
  const t0 = performance.now();
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  const variant = $('#variant').value;
  const tPost = performance.now();
  const res = await api('POST', '/api/v1/items/' + digest + '/preview', { offer: pc.localDescription.sdp, variant, reason: $('#reason').value });
  if (res.status !== 201) { pc.close(); $('#preview-error').textContent = await errorText(res); return; }
  const answer = await res.text();
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  const p = { pc, location: res.headers.get('Location'), mode: res.headers.get('X-Preview-Mode'), variant, t0, tPost, firstFrameMs: null, postToFrameMs: null };
  state.preview = p;
  window.etPreview = p;
  $('#video-note').textContent = 'connecting…';
  setPreviewUI(true);
  watchStats(p);
}

// watchStats shows decoded frames and records time to the first one.
async function watchStats(p) {
  while (state.preview === p) {
    const stats = await p.pc.getStats();
    let frames = 0;
    stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0; });
    p.framesDecoded = frames;
    if (frames > 0 && p.firstFrameMs == null) { const now = performance.now(); p.firstFrameMs = now - p.t0; p.postToFrameMs = now - p.tPost; $('#video-note').textContent = ''; }
    $('#preview-status').textContent = p.variant + ' · ' + p.mode + ' · ' + frames + ' frames' + (p.firstFrameMs != null ? ' · first frame ' + p.firstFrameMs.toFixed(0) + ' ms' : '');
    await new Promise((r) => setTimeout(r, p.firstFrameMs == null ? 15 : 500));
  }
}

async function stopPreview() {
  const p = state.preview;
  if (!p) return;
  state.preview = null;
  window.etPreview = null;
  setPreviewUI(false);
  // DELETE before closing, so the record says the viewer stopped it.
  await api('DELETE', p.location).catch(() => {});
  p.pc.close();
  $('#video').srcObject = null;
  $('#video-note').textContent = 'no preview running';
}

// iceGathered waits briefly for host candidates (no STUN: gathering ends
// at once); the appliance finds the browser from its first check anyway.
function iceGathered(pc) {
  return new Promise((ok) => {
    if (pc.iceGatheringState === 'complete') return ok();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && ok();
    setTimeout(ok, 300);
  });
}

// ---- live view of a camera (WHEP) ----
// window.etLive keeps the figures a test reads: firstFrameMs is from the
// click to the first frame the video element presented.
async function startLive(camera) {
  const t0 = performance.now();
  const lv = { camera, t0, location: null, stream: null, firstFrameMs: null, framesDecoded: 0 };
  window.etLive = lv;
  await stopLive();
  $('#liveview-error').textContent = '';
  const pc = new RTCPeerConnection();
  lv.pc = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  const video = $('#liveview-video');
  state.live = lv;
  $('#liveview').hidden = false;
  $('#liveview-title').textContent = camera;
  $('#liveview-status').textContent = 'connecting…';
  pc.ontrack = (e) => {
    video.srcObject = e.streams[0] || new MediaStream([e.track]);
    // Registered once this view's stream is in the element, so the frame
    // it reports is this camera's, not the one shown before.
    video.requestVideoFrameCallback((now, meta) => { lv.firstFrameMs = performance.now() - t0; lv.width = meta.width; });
    video.play().catch(() => {});
  };
  await pc.setLocalDescription(await pc.createOffer());
  // The offer goes without waiting for candidates: the appliance learns
  // this browser's address from its first connectivity check, so waiting
  // for gathering would only delay the picture (by ~150 ms here).
  lv.postMs = performance.now() - t0;
  const res = await api('POST', '/api/v1/cameras/' + encodeURIComponent(camera) + '/whep', pc.localDescription.sdp, { 'Content-Type': 'application/sdp' });
  if (res.status !== 201) {
    pc.close();
    if (state.live === lv) { state.live = null; $('#liveview-status').textContent = ''; $('#liveview-error').textContent = await errorText(res); }
    return;
  }
  lv.answerMs = performance.now() - t0;
  lv.location = res.headers.get('Location');
  lv.stream = res.headers.get('X-Live-Stream');
  if (state.live !== lv) { // closed while connecting
    await api('DELETE', lv.location).catch(() => {});
    pc.close();
    return;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  watchLive(lv);
}

async function watchLive(lv) {
  while (state.live === lv) {
    const stats = await lv.pc.getStats();
    stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') lv.framesDecoded = s.framesDecoded || 0; });
    $('#liveview-status').textContent = (lv.stream || '') + ' stream · ' + lv.framesDecoded + ' frames' +
      (lv.firstFrameMs != null ? ' · first frame ' + lv.firstFrameMs.toFixed(0) + ' ms' : '');
    await new Promise((r) => setTimeout(r, 500));
  }
}

// closeLive drops the view on this page only.
function closeLive() {
  const lv = state.live;
  state.live = null;
  $('#liveview').hidden = true;
  $('#liveview-video').srcObject = null;
  if (lv) lv.pc.close();
}

async function stopLive() {
  const lv = state.live;
  if (!lv) return;
  state.live = null;
  $('#liveview').hidden = true;
  // DELETE before closing, so the record says the viewer stopped it.
  if (lv.location) await api('DELETE', lv.location).catch(() => {});
  lv.pc.close();
  $('#liveview-video').srcObject = null;
}

async function control(action, position) {
  const p = state.preview;
  if (!p) return;
  const res = await api('POST', p.location + '/control', { action, position });
  if (!res.ok) $('#preview-error').textContent = await errorText(res);
}

async function exportItem() {
  // Evidence leaves the appliance only for a case: the reason goes into
  // the custody chain with the export.
  const reason = window.prompt('Reason for the export (case or incident reference):', '');
  if (!reason || !reason.trim()) {
    $('#export-note').textContent = 'an export needs a reason';
    return;
  }
  const res = await api('POST', '/api/v1/items/' + state.item.digest + '/export', { reason: reason.trim() });
  $('#export-note').textContent = res.ok ? 'export started' : await errorText(res);
}

// ---- administration ----
function actionButton(text, fn) { const b = el('button', { type: 'button', text }); b.addEventListener('click', fn); return b; }

async function adminCall(errBox, method, path, body) {
  $(errBox).textContent = '';
  const res = await api(method, path, body);
  if (!res.ok) { $(errBox).textContent = await errorText(res); return null; }
  loadAdmin();
  return res.status === 204 ? {} : res.json();
}

async function loadAdmin() {
  const [users, tokens, sessions] = await Promise.all(['users', 'tokens', 'sessions'].map(async (k) => {
    const res = await api('GET', '/api/v1/admin/' + k);
    return res.ok ? res.json() : [];
  }));
  $('#users').replaceChildren(el('tr', {}, ...['name', 'role', 'state', 'second factor', ''].map((h) => el('th', { text: h }))),
    ...users.map((u) => {
      const role = el('select', { 'data-user': u.name }, ...['staff', 'investigator', 'admin'].map((r) => el('option', { value: r, text: r })));
      role.value = u.role;
      role.addEventListener('change', () => adminCall('#users-error', 'PATCH', '/api/v1/admin/users/' + u.name, { role: role.value }));
      const mfa = (u.second_factors || []).join(', ') || (u.second_factor_required ? 'none: enrols at next login' : 'none');
      return el('tr', { 'data-user': u.name }, el('td', { text: u.name }), el('td', {}, role), el('td', { text: u.disabled ? 'disabled' : 'active' }), el('td', { text: mfa }),
        el('td', {},
          actionButton('Set password', () => { const pw = window.prompt('New password for ' + u.name + ' (10+ characters):'); if (pw) adminCall('#users-error', 'PATCH', '/api/v1/admin/users/' + u.name, { password: pw }); }),
          actionButton(u.disabled ? 'Enable' : 'Disable', () => adminCall('#users-error', 'PATCH', '/api/v1/admin/users/' + u.name, { disabled: !u.disabled })),
          (u.second_factors || []).length ? actionButton('Reset second factor', () => window.confirm('Remove every second factor of ' + u.name + '?') && adminCall('#users-error', 'DELETE', '/api/v1/admin/users/' + u.name + '/mfa')) : null));
    }));
  $('#tokens').replaceChildren(el('tr', {}, ...['client', 'created', 'expires', ''].map((h) => el('th', { text: h }))),
    ...tokens.map((t) => el('tr', {}, el('td', { text: t.name }), el('td', { text: fmtTime(t.created) }), el('td', { text: fmtTime(t.expires) + (t.expired ? ' (expired)' : '') }),
      el('td', {}, actionButton('Revoke', () => window.confirm('Revoke the token of ' + t.name + '?') && adminCall('#tokens-error', 'DELETE', '/api/v1/admin/tokens/' + t.name))))));
  $('#sessions').replaceChildren(el('tr', {}, ...['user', 'role', 'since', 'last seen'].map((h) => el('th', { text: h }))),
    ...sessions.map((x) => el('tr', {}, el('td', { text: x.user + (x.stage ? ' (' + x.stage + ')' : '') }), el('td', { text: x.role }), el('td', { text: fmtTime(x.created) }), el('td', { text: fmtTime(x.last_seen) }))));
}

async function addUser(ev) {
  ev.preventDefault();
  const f = new FormData($('#user-add'));
  if (await adminCall('#users-error', 'POST', '/api/v1/admin/users', { name: f.get('name'), role: f.get('role'), password: f.get('password') })) $('#user-add').reset();
}

async function addToken(ev) {
  ev.preventDefault();
  const f = new FormData($('#token-add'));
  const body = await adminCall('#tokens-error', 'POST', '/api/v1/admin/tokens', { name: f.get('name'), expires: f.get('expires') || '' });
  if (!body) return;
  $('#token-add').reset();
  $('#token-new').hidden = false;
  $('#token-new').textContent = 'Token for ' + body.name + ' (shown once; give it to the central system): ' + body.token;
}

// ---- routing ----
async function route() {
  if (!state.me || state.me.stage) return;
  if (location.hash === '#/admin' && state.me.can_administer) { await stopPreview(); show('admin'); $('#token-new').hidden = true; return loadAdmin(); }
  if (location.hash === '#/security') { await stopPreview(); return showEnrol(); }
  const m = location.hash.match(/^#\/item\/([0-9a-f]{64})$/);
  if (m) {
    show('item');
    if (!state.item || state.item.digest !== m[1]) { await stopPreview(); state.item = null; }
    await loadItem(m[1]);
  } else {
    await stopPreview();
    show('dash');
    await loadItems();
    const res = await api('GET', '/api/v1/status');
    if (res.ok) renderStatus(await res.json());
  }
}

async function boot() {
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', logout);
  $('#search').addEventListener('submit', (e) => { e.preventDefault(); loadItems(); });
  $('#preview-start').addEventListener('click', startPreview);
  $('#preview-stop').addEventListener('click', stopPreview);
  $('#pause').addEventListener('click', () => control('pause'));
  $('#play').addEventListener('click', () => control('play'));
  $('#seek').addEventListener('click', () => control('seek', Number($('#seek-to').value)));
  $('#export').addEventListener('click', exportItem);
  $('#code-form').addEventListener('submit', sendCode);
  $('#code-cancel').addEventListener('click', async () => { await api('POST', '/api/v1/logout').catch(() => {}); showLogin(); });
  $('#totp-begin').addEventListener('click', beginTOTP);
  $('#totp-form').addEventListener('submit', confirmTOTP);
  $('#enrol-done').addEventListener('click', enrolDone);
  $('#webauthn-register').addEventListener('click', registerKey);
  $('#webauthn-login').addEventListener('click', loginWithKey);
  $('#user-add').addEventListener('submit', addUser);
  $('#token-add').addEventListener('submit', addToken);
  $('#hold-toggle').addEventListener('click', () => changeItem('hold', { hold: !state.item.hold }));
  $('#category-set').addEventListener('click', () => changeItem('category', { category: $('#category').value.trim() }));
  $('#assign-btn').addEventListener('click', assignDevice);
  window.addEventListener('hashchange', route);
  $('#cameras').addEventListener('click', (e) => { const b = e.target.closest('button.live-btn'); if (b) startLive(b.dataset.camera); });
  $('#liveview-close').addEventListener('click', stopLive);
  window.addEventListener('pagehide', () => {
    for (const p of [state.preview, state.live]) {
      if (p && p.location) fetch(p.location, { method: 'DELETE', headers: { 'X-CSRF-Token': cookie('et_csrf') }, keepalive: true });
    }
  });
  const res = await fetch('/api/v1/me', { credentials: 'same-origin' });
  if (!res.ok) return showLogin();
  state.me = await res.json();
  start();
}

boot();
