// camrelay status page: polls the API, keeps one card per camera and
// plays previews from MediaMTX over WHEP. No framework, no build step.
'use strict';

const POLL_MS = 1500;          // camera list refresh
const SNAP_MS = 4000;          // snapshot tile refresh
const MAX_LIVE = 12;           // WebRTC previews at once
const PLAY_TIMEOUT_MS = 15000; // no decoded frame by then: snapshot instead
const RETRY_MS = 20000;        // after a failed preview, try WebRTC again
const SPARK_POINTS = 200;      // latency samples kept per camera
const ICE_GATHER_MS = 2000;

const $ = (id) => document.getElementById(id);
const cams = new Map();   // name -> camera entry (see entry())
let noWHEP = false;       // the server has no ui.whep_url: snapshots only
let lastOK = 0;
let detailName = null;    // the camera page shown, or null for the grid

// ---- API ------------------------------------------------------------------

function camURL(name) {
  return '/v1/cameras/' + name.split('/').map(encodeURIComponent).join('/');
}

async function api(method, url) {
  const res = await fetch(url, {method, cache: 'no-store', credentials: 'same-origin', headers: {Accept: 'application/json'}});
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText;
    try { msg = (await res.json()).error || msg; } catch (_) { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

async function listCameras() {
  const out = [];
  for (let page = 1; ; page++) {
    const p = await api('GET', '/v1/cameras?per_page=1000&page=' + page);
    out.push(...p.items);
    if (out.length >= p.total || p.items.length === 0) return out;
  }
}

// ---- formatting -----------------------------------------------------------

function fmtDuration(ms) {
  if (!(ms >= 0)) return '–';
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}
function since(t) {
  const ms = Date.parse(t);
  return isNaN(ms) || ms <= 0 ? NaN : Date.now() - ms;
}
function fmtBitrate(bps) {
  if (!bps) return '0';
  if (bps >= 1e6) return (bps / 1e6).toFixed(2) + ' Mb/s';
  return (bps / 1e3).toFixed(0) + ' kb/s';
}
function fmtMs(ns) { return ns ? (ns / 1e6).toFixed(ns < 1e7 ? 2 : 0) + ' ms' : '–'; }
function fmtTime(t) {
  const d = new Date(t);
  return isNaN(d) ? '' : d.toLocaleString(undefined, {hour12: false});
}

// codecs shortens tracks ("video H264/90000") to their codecs ("H264").
function codecs(tracks) {
  return (tracks || []).map((t) => t.replace(/^\S+\s+/, '').replace(/\/.*$/, '')).join(' + ');
}

// state is what a card shows: the source's state, or where the camera is
// when this instance does not relay it.
function stateOf(v) {
  if (!v.local) return 'remote';
  if (v.config && v.config.mode === 'direct' && !(v.status && v.status.state)) return 'direct';
  return (v.status && v.status.state) || 'unknown';
}

function reasonOf(v) {
  const st = v.status || {};
  if ((st.state === 'backoff' || st.state === 'error') && st.last_error) return st.last_error;
  const k = st.sink || {};
  if ((k.state === 'backoff' || k.state === 'error') && k.last_error) return 'output: ' + k.last_error;
  return '';
}

function playable(v) {
  const st = v.status || {};
  return v.local && st.state === 'streaming' && st.sink && st.sink.state === 'publishing';
}

// ---- cards ----------------------------------------------------------------

function entry(name) {
  let c = cams.get(name);
  if (c) return c;
  const el = $('card').content.firstElementChild.cloneNode(true);
  el.dataset.name = name;
  el.dataset.preview = 'none';
  el.dataset.frames = '0';
  const a = el.querySelector('.name');
  a.textContent = name;
  a.title = name;
  a.href = '#/camera/' + encodeURIComponent(name);
  c = {
    name, el, view: null, visible: false,
    media: el.querySelector('.media'),
    video: el.querySelector('video'),
    img: el.querySelector('img'),
    note: el.querySelector('.note'),
    live: null,        // the WebRTC session, while there is one
    mode: 'none',      // none | connecting | webrtc | snapshot
    retryAt: 0,
    snapAt: 0,
    lat: [],           // [time, p50 ns, p99 ns]
  };
  c.img.addEventListener('load', () => { if (c.mode === 'snapshot') c.note.textContent = 'snapshot'; });
  c.img.addEventListener('error', () => { if (c.mode === 'snapshot') c.note.textContent = 'no picture yet'; });
  cams.set(name, c);
  observer.observe(el);
  return c;
}

function setText(el, s) { if (el.textContent !== s) el.textContent = s; }

function renderCard(c) {
  const v = c.view, st = v.status || {}, el = c.el;
  const state = stateOf(v);
  el.dataset.state = state;
  const badge = el.querySelector('.badge');
  setText(badge, state);
  badge.className = 'badge ' + state;
  setText(el.querySelector('.reason'), reasonOf(v));
  const f = (k) => el.querySelector(`[data-f="${k}"]`);
  setText(f('fps'), st.fps != null ? st.fps.toFixed(1) : '–');
  setText(f('bitrate'), st.bitrate_bps != null ? fmtBitrate(st.bitrate_bps) : '–');
  setText(f('size'), st.width ? `${st.width}×${st.height}` : '–');
  setText(f('codecs'), codecs(st.tracks) || '–');
  f('codecs').title = (st.tracks || []).join(', ');
  setText(f('drops'), st.drops != null ? String(st.drops) : '–');
  setText(f('reconnects'), st.reconnects != null ? String(st.reconnects) : '–');
  setText(f('viewers'), st.viewers != null ? String(st.viewers) : '–');
  setText(f('uptime'), st.since ? fmtDuration(since(st.since)) : '–');
  setText(f('sink'), (st.sink && st.sink.state) || (v.local ? '–' : v.owner || 'remote'));
  setText(f('lost'), st.lost != null ? String(st.lost) : '–');
  setText(f('p50'), st.sink ? fmtMs(st.sink.latency_p50_ns) : '–');
  setText(f('p99'), st.sink ? fmtMs(st.sink.latency_p99_ns) : '–');
}

// ---- previews ---------------------------------------------------------------

function show(c, what) { if (c.media.dataset.show !== what) c.media.dataset.show = what; }

function setMode(c, mode) {
  c.mode = mode;
  c.el.dataset.preview = mode;
}

function stopLive(c) {
  const s = c.live;
  if (!s) return;
  c.live = null;
  clearTimeout(s.timer);
  try { s.pc.close(); } catch (_) { /* closed */ }
  if (s.session) {
    const headers = s.token ? {Authorization: 'Bearer ' + s.token} : {};
    fetch(s.session, {method: 'DELETE', headers, credentials: 'omit'}).catch(() => {});
  }
  c.video.srcObject = null;
}

function toSnapshot(c, why) {
  stopLive(c);
  setMode(c, 'snapshot');
  show(c, 'img');
  c.note.textContent = why || 'snapshot';
  c.snapAt = 0;
}

function liveCount() {
  let n = 0;
  for (const c of cams.values()) if (c.live) n++;
  return n;
}

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ICE_GATHER_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}

async function startLive(c) {
  const s = {pc: null, session: null, token: '', timer: 0};
  c.live = s;
  setMode(c, 'connecting');
  c.note.textContent = 'connecting…';
  const fail = (why) => {
    if (c.live !== s) return;
    console.warn(`camrelay: preview of ${c.name}: ${why}`);
    c.retryAt = Date.now() + RETRY_MS;
    toSnapshot(c, why);
  };
  try {
    const acc = await api('POST', camURL(c.name) + '/viewer-token');
    if (c.live !== s) return;
    if (!acc.whep_url) {
      noWHEP = true;
      fail('no WHEP URL configured (ui.whep_url)');
      return;
    }
    s.token = acc.token || '';
    const pc = new RTCPeerConnection({iceServers: [], bundlePolicy: 'max-bundle'});
    s.pc = pc;
    pc.addTransceiver('video', {direction: 'recvonly'});
    pc.addTransceiver('audio', {direction: 'recvonly'});
    pc.ontrack = (ev) => {
      if (ev.track.kind !== 'video' || c.live !== s) return;
      c.video.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      c.video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') fail('WebRTC connection failed (ICE)');
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (c.live !== s) return;
    const headers = {'Content-Type': 'application/sdp'};
    if (s.token) headers.Authorization = 'Bearer ' + s.token;
    const res = await fetch(acc.whep_url, {method: 'POST', headers, body: pc.localDescription.sdp, credentials: 'omit', cache: 'no-store'});
    const body = await res.text();
    if (res.status !== 201 && res.status !== 200) {
      fail(`WHEP ${res.status}: ${body.trim().slice(0, 160)}`);
      return;
    }
    const loc = res.headers.get('Location');
    if (loc) s.session = new URL(loc, acc.whep_url).href;
    if (c.live !== s) return;
    await pc.setRemoteDescription({type: 'answer', sdp: body});
    s.timer = setTimeout(() => { if (frames(c) === 0) fail('no video decoded (codec not playable here?)'); }, PLAY_TIMEOUT_MS);
  } catch (e) {
    fail(e.message || String(e));
  }
}

function frames(c) {
  const v = c.video;
  if (!v.srcObject || !v.getVideoPlaybackQuality) return 0;
  return v.getVideoPlaybackQuality().totalVideoFrames;
}

// preview decides, for each camera once per poll, what its tile shows.
function preview(c) {
  const want = c.visible || c.name === detailName;
  if (!want || !playable(c.view)) {
    if (c.live) stopLive(c);
    if (!want) { setMode(c, 'none'); return; }
    if (c.mode !== 'snapshot') toSnapshot(c, c.view.local ? 'not streaming' : 'relayed elsewhere');
  } else if (!c.live && !noWHEP && Date.now() >= c.retryAt && liveCount() < MAX_LIVE) {
    startLive(c);
  } else if (!c.live && c.mode !== 'snapshot') {
    toSnapshot(c, noWHEP ? 'snapshot' : 'snapshot (preview limit)');
  }
  if (c.live) {
    const n = frames(c);
    c.el.dataset.frames = String(n);
    if (n > 0 && c.mode !== 'webrtc') {
      clearTimeout(c.live.timer);
      setMode(c, 'webrtc');
      show(c, 'video');
      c.note.textContent = 'live';
    }
  }
  if (c.mode === 'snapshot' && c.view.local && Date.now() - c.snapAt >= SNAP_MS) {
    c.snapAt = Date.now();
    c.img.src = camURL(c.name) + '/snapshot.jpg?width=320&t=' + c.snapAt;
  }
}

const observer = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const c = cams.get(e.target.dataset.name);
    if (c) c.visible = e.isIntersecting;
  }
}, {rootMargin: '200px'});

// ---- grid -------------------------------------------------------------------

function matches(c) {
  const want = $('f-state').value;
  const q = $('f-name').value.trim().toLowerCase();
  const state = c.el.dataset.state;
  if (q && !c.name.toLowerCase().includes(q)) return false;
  if (!want) return true;
  if (want === 'problems') return state !== 'streaming';
  return state === want;
}

function applyFilters() {
  let shown = 0;
  for (const c of cams.values()) {
    const ok = matches(c);
    c.el.hidden = !ok;
    if (ok) shown++;
  }
  $('empty').hidden = shown > 0 || cams.size === 0;
}

function renderSummary() {
  const counts = {};
  for (const c of cams.values()) counts[c.el.dataset.state] = (counts[c.el.dataset.state] || 0) + 1;
  const s = $('summary');
  s.textContent = '';
  const b = document.createElement('b');
  b.textContent = String(cams.size);
  s.append(b, cams.size === 1 ? ' camera' : ' cameras');
  for (const k of Object.keys(counts).sort()) s.append(` · ${counts[k]} ${k}`);
}

async function poll() {
  try {
    const views = await listCameras();
    lastOK = Date.now();
    const seen = new Set();
    const grid = $('grid');
    views.forEach((v, i) => {
      const name = v.config.name;
      seen.add(name);
      const c = entry(name);
      c.view = v;
      if (grid.children[i] !== c.el) grid.insertBefore(c.el, grid.children[i] || null);
      renderCard(c);
      const k = v.status && v.status.sink;
      if (k && (k.latency_p50_ns || k.latency_p99_ns)) {
        c.lat.push([Date.now(), k.latency_p50_ns, k.latency_p99_ns]);
        if (c.lat.length > SPARK_POINTS) c.lat.shift();
      }
    });
    for (const [name, c] of cams) {
      if (!seen.has(name)) {
        stopLive(c);
        observer.unobserve(c.el);
        c.el.remove();
        cams.delete(name);
      }
    }
    for (const c of cams.values()) preview(c);
    applyFilters();
    renderSummary();
    setConn('', false);
  } catch (e) {
    setConn(e.status === 401 ? 'not signed in: reload the page' : 'API unreachable: ' + e.message, true);
  }
  if (detailName !== null) await pollDetail();
  setTimeout(poll, POLL_MS);
}

function setConn(msg, bad) {
  const el = $('conn');
  el.classList.toggle('bad', bad);
  el.textContent = msg || (lastOK ? 'live · updated ' + new Date(lastOK).toLocaleTimeString(undefined, {hour12: false}) : '');
}

// ---- camera page ------------------------------------------------------------

function route() {
  const m = location.hash.match(/^#\/camera\/(.+)$/);
  const name = m ? decodeURIComponent(m[1]) : null;
  if (name === detailName) return;
  detailName = name;
  detailSnapAt = 0;
  $('d-video').srcObject = null;
  $('d-media').dataset.show = '';
  $('d-note').textContent = '';
  $('grid-view').hidden = name !== null;
  $('camera-view').hidden = name === null;
  $('filters').hidden = name !== null;
  if (name === null) { document.title = 'camrelay'; return; }
  document.title = name + ' · camrelay';
  $('d-name').textContent = name;
  $('d-history').textContent = '';
  $('d-figures').textContent = '';
  pollDetail();
}

let detailSnapAt = 0;

// detailMedia shows the camera's live preview (the card's stream, in a
// second video element) or else a bigger snapshot.
function detailMedia(c) {
  const v = $('d-video'), m = $('d-media');
  const stream = c && c.mode === 'webrtc' ? c.video.srcObject : null;
  if (stream) {
    if (v.srcObject !== stream) { v.srcObject = stream; v.play().catch(() => {}); }
    m.dataset.show = 'video';
    $('d-note').textContent = 'live';
    return;
  }
  v.srcObject = null;
  if (!c || !c.view || !c.view.local) { m.dataset.show = ''; $('d-note').textContent = 'no preview'; return; }
  m.dataset.show = 'img';
  $('d-note').textContent = 'snapshot';
  if (Date.now() - detailSnapAt >= SNAP_MS) {
    detailSnapAt = Date.now();
    $('d-img').src = camURL(c.name) + '/snapshot.jpg?width=960&t=' + detailSnapAt;
  }
}

async function pollDetail() {
  const name = detailName;
  let v;
  try {
    v = await api('GET', camURL(name));
  } catch (e) {
    if (name === detailName) $('d-reason').textContent = e.status === 404 ? 'no such camera' : e.message;
    return;
  }
  if (name !== detailName) return;
  const c = cams.get(name);
  detailMedia(c);
  const state = stateOf(v);
  $('d-badge').textContent = state;
  $('d-badge').className = 'badge ' + state;
  $('d-reason').textContent = reasonOf(v);
  renderFigures(v);
  renderHistory(v.history || []);
  renderSpark(c ? c.lat : []);
}

function renderFigures(v) {
  const st = v.status || {}, k = st.sink || {}, cfg = v.config || {};
  const rows = [
    ['state', `${st.state || '–'} since ${fmtTime(st.since)} (${fmtDuration(since(st.since))})`],
    ['source', st.source || cfg.source || '–'],
    ['output', st.output || cfg.output || '–'],
    ['path', st.path || cfg.path || cfg.name],
    ['mode', st.mode || cfg.mode || '–'],
    ['tracks', (st.tracks || []).join(', ') || '–'],
    ['resolution', st.width ? `${st.width}×${st.height}` : '–'],
    ['fps', st.fps != null ? st.fps.toFixed(2) : '–'],
    ['bitrate', fmtBitrate(st.bitrate_bps)],
    ['packets / frames / bytes', `${st.packets ?? '–'} / ${st.frames ?? '–'} / ${st.bytes ?? '–'}`],
    ['lost / corrupt / oversized', `${st.lost ?? '–'} / ${st.corrupt ?? '–'} / ${st.oversized_dropped ?? '–'}`],
    ['drops', st.drops ?? '–'],
    ['reconnects', st.reconnects ?? '–'],
    ['seconds since packet', st.seconds_since_packet != null ? st.seconds_since_packet.toFixed(2) : '–'],
    ['viewers at MediaMTX', st.viewers ?? '–'],
    ['output state', `${k.state || '–'} since ${fmtTime(k.since)}`],
    ['output sessions / rebases', `${k.sessions ?? '–'} / ${k.rebases ?? '–'}`],
    ['output frames / dropped / skipped', `${k.frames ?? '–'} / ${k.dropped ?? '–'} / ${k.skipped ?? '–'}`],
    ['latency p50 / p99', `${fmtMs(k.latency_p50_ns)} / ${fmtMs(k.latency_p99_ns)}`],
  ];
  if (k.last_error) rows.push(['output error', k.last_error]);
  if (st.last_error) rows.push(['last error', st.last_error]);
  if (!v.local) rows.unshift(['relayed by', v.owner || `shard ${v.shard}`]);
  const tb = document.createElement('tbody');
  for (const [key, val] of rows) {
    const tr = tb.insertRow();
    tr.insertCell().textContent = key;
    tr.insertCell().textContent = String(val);
  }
  $('d-figures').replaceChildren(tb);
}

function renderHistory(h) {
  const tb = $('d-history');
  const rows = [];
  for (let i = h.length - 1; i >= 0; i--) {
    const e = h[i];
    const tr = document.createElement('tr');
    for (const s of [fmtTime(e.time), e.state, e.sink_state, e.reason || '']) tr.insertCell().textContent = s;
    rows.push(tr);
  }
  tb.replaceChildren(...rows);
}

function renderSpark(lat) {
  const W = 600, H = 120, pad = 6;
  if (lat.length < 2) {
    $('d-p50').setAttribute('points', '');
    $('d-p99').setAttribute('points', '');
    $('d-lat').textContent = 'collecting samples…';
    return;
  }
  const t0 = lat[0][0], t1 = lat[lat.length - 1][0];
  const max = Math.max(1, ...lat.map((s) => s[2] || s[1]));
  const pts = (i) => lat.map((s) => {
    const x = ((s[0] - t0) / Math.max(1, t1 - t0)) * W;
    const y = H - pad - ((s[i] || 0) / max) * (H - 2 * pad);
    return x.toFixed(1) + ',' + y.toFixed(1);
  }).join(' ');
  $('d-p50').setAttribute('points', pts(1));
  $('d-p99').setAttribute('points', pts(2));
  const last = lat[lat.length - 1];
  $('d-lat').textContent = `now ${fmtMs(last[1])} / ${fmtMs(last[2])}, max ${fmtMs(max)}, over ${fmtDuration(t1 - t0)}`;
}

// ---- start ------------------------------------------------------------------

$('f-state').addEventListener('change', applyFilters);
$('f-name').addEventListener('input', applyFilters);
$('filters').addEventListener('submit', (e) => e.preventDefault());
window.addEventListener('hashchange', route);
window.addEventListener('pagehide', () => { for (const c of cams.values()) stopLive(c); });
route();
poll();
