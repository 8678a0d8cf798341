/* Reawake t.js: page views, SPA routes, events, identity. <script async src="API/v1/t.js">; queue calls
   before it loads: window.reawake = window.reawake || []; reawake.push(['track', 'download', {...}]) */
(() => {
  'use strict';
  const w = window, d = document, nav = navigator, loc = location;
  if (w.reawake && w.reawake.loaded) return;
  const me = d.currentScript || d.querySelector('script[src*="/v1/t.js"]');
  const api = me.src.replace(/\/v1\/t\.js.*$/, '');
  const TYPES = ['page_view', 'form_submit', 'download', 'webinar_view', 'custom'];
  const AGE = 63072000; // two years, in seconds
  let queue = [], timer = 0, ready = Promise.resolve(), vid, lastPath, lastUrl;

  const cookie = (name) => {
    try { return (d.cookie.match(`(?:^|;\\s*)${name}=([^;]*)`) || [])[1] || ''; } catch (e) { return ''; }
  };
  const setCookie = (name, value, age) => {
    try {
      d.cookie = `${name}=${value};path=/;max-age=${age};SameSite=Lax${loc.protocol === 'https:' ? ';Secure' : ''}`;
    } catch (e) { /* sandboxed: the id lives as long as the page */ }
  };
  const randomId = () => Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => (b + 256).toString(16).slice(1)).join('');
  let off = nav.globalPrivacyControl === true || w.reawakeOptOut === true || cookie('rw_optout') === '1' ||
    me.hasAttribute('data-opt-out');

  // Keep to the API's limits: it refuses a whole batch for one bad value.
  const cut = (s, n) => String(s).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '').slice(0, n);
  const clean = (props) => {
    const out = {};
    for (const [k, v] of Object.entries(props || {})) {
      const t = typeof v;
      if (Object.keys(out).length === 20 || !/^[A-Za-z0-9_.-]{1,40}$/.test(k)) continue;
      if (t === 'string') out[k] = cut(v, 500);
      else if (t === 'boolean' || (t === 'number' && isFinite(v))) out[k] = v;
    }
    return out;
  };

  // text/plain and an unread answer: a simple request, no CORS preflight.
  const post = (path, body) => fetch(api + path, {method: 'POST', body, keepalive: true, mode: 'no-cors',
    credentials: 'omit', headers: {'content-type': 'text/plain'}}).catch(() => {});
  const send = (path, body) => {
    if (!(nav.sendBeacon && nav.sendBeacon(api + path, new Blob([body], {type: 'text/plain'})))) post(path, body);
  };
  const flush = () => { // at most 10 events, and well under 64 KB, a request
    clearTimeout(timer);
    timer = 0;
    while (queue.length) {
      let n = Math.min(queue.length, 10), body;
      while ((body = JSON.stringify({events: queue.slice(0, n)})).length > 2e4 && n > 1) n--;
      queue.splice(0, n);
      send('/v1/events', body);
    }
  };

  const track = (type, props, referrer) => {
    if (off) return;
    if (!TYPES.includes(type)) { props = Object.assign({name: type}, props, {name: type}); type = 'custom'; }
    const e = {id: randomId(), type, ts: Date.now(), visitor_id: vid, url: cut(loc.href, 2048), props: clean(props)};
    if (referrer) e.referrer = cut(referrer, 2048);
    queue.push(e);
    if (queue.length >= 10) ready.then(flush);
    else if (!timer) timer = setTimeout(() => ready.then(flush), 1000);
  };
  const page = (referrer) => {
    const topic = d.querySelector('meta[name="reawake:topic"]');
    lastPath = loc.pathname;
    track('page_view', {topic: topic && topic.content, title: d.title}, referrer);
    lastUrl = loc.href;
  };
  // A form: identify(email, {name, company, consent: true | {marketing_email, text, source_url}}).
  const identify = (email, opts = {}) => {
    if (off) return ready;
    const body = {visitor_id: vid, email: cut(email, 254)};
    let c = opts.consent;
    if (opts.name) body.name = cut(opts.name, 200);
    if (opts.company) body.company = cut(opts.company, 200);
    if (c != null) {
      c = typeof c === 'object' ? c : {marketing_email: c};
      body.consent = {marketing_email: !!c.marketing_email, source_url: cut(c.source_url || loc.href, 2048)};
      if (c.text) body.consent.text = cut(c.text, 1000);
    }
    return (ready = ready.then(() => post('/v1/identify', JSON.stringify(body))));
  };
  const optOut = () => {
    off = true;
    queue = [];
    setCookie('rw_optout', '1', AGE);
    setCookie('rw_vid', '', 0);
  };

  // Arrival from a tracked email link: take the identify token (rw_id) out of the address bar.
  let token;
  const kept = loc.search.slice(1).split('&').filter((p) => {
    if (!p.startsWith('rw_id=')) return p;
    try { token = decodeURIComponent(p.slice(6)); } catch (e) { /* a broken token is ignored */ }
  });
  if (token !== undefined) {
    history.replaceState(history.state, '', loc.pathname + (kept.length ? '?' + kept.join('&') : '') + loc.hash);
  }

  const pub = {loaded: true, track, identify, optOut, page, flush,
    push: ([name, ...args] = []) => typeof pub[name] === 'function' ? pub[name](...args) : undefined};
  const pending = Array.isArray(w.reawake) ? w.reawake : [];
  w.reawake = pub;

  const changed = () => setTimeout(() => { // once the app has set the new route's title and meta
    if (!off && loc.pathname !== lastPath) page(lastUrl);
  });
  if (!off) {
    vid = cookie('rw_vid');
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(vid)) vid = randomId();
    setCookie('rw_vid', vid, AGE); // first-party: the API's own domain could not set it
    if (token) ready = post('/v1/identify', JSON.stringify({visitor_id: vid, token}));
    page(d.referrer);
    // SPA: a page view when the path changes (history API, back/forward).
    for (const m of ['pushState', 'replaceState']) {
      const orig = history[m];
      history[m] = function (...args) { const r = orig.apply(this, args); changed(); return r; };
    }
    w.addEventListener('popstate', changed);
    d.addEventListener('visibilitychange', () => d.visibilityState === 'hidden' && flush());
    w.addEventListener('pagehide', flush);
    w.addEventListener('pageshow', (e) => e.persisted && page(d.referrer)); // back to a cached page
  }
  pending.forEach(pub.push);
})();
