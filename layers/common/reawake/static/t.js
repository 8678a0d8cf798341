/* Reawake t.js: page views, SPA navigations, events and identity for one site. No dependencies.
   <script async src="https://API/v1/t.js"></script>; before it loads, pages may queue calls:
   window.reawake = window.reawake || []; reawake.push(['track', 'download', {file: 'a.pdf'}]); */
(function (w, d, nav) {
  'use strict';
  if (w.reawake && w.reawake.loaded) return;
  var me = d.currentScript || d.querySelector('script[src*="/v1/t.js"]');
  var api = me.src.replace(/\/v1\/t\.js.*$/, '');
  var TYPES = ['page_view', 'form_submit', 'download', 'webinar_view', 'custom'];
  var YEARS2 = 63072000;
  var queue = [], timer = 0, ready = Promise.resolve(), vid, lastPath, lastUrl;

  function cookie(name) { // null where cookies are blocked (a sandboxed frame)
    try { var m = d.cookie.match('(?:^|;\\s*)' + name + '=([^;]*)'); } catch (e) { /* blocked */ }
    return m && m[1];
  }
  function setCookie(name, value, maxAge) {
    try {
      d.cookie = name + '=' + value + ';path=/;max-age=' + maxAge + ';SameSite=Lax' +
        (location.protocol === 'https:' ? ';Secure' : '');
    } catch (e) { /* blocked: the id lives as long as the page */ }
  }
  function randomId() { // 16 random bytes, base64url (22 chars)
    var b = crypto.getRandomValues(new Uint8Array(16));
    return btoa(String.fromCharCode.apply(null, b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function optedOut() {
    return nav.globalPrivacyControl === true || w.reawakeOptOut === true || cookie('rw_optout') === '1' ||
      me.hasAttribute('data-opt-out');
  }
  var off = optedOut();

  // Keep to the API's limits: the server refuses a whole batch for one bad value.
  function cut(s, n) { return String(s).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '').slice(0, n); }
  function clean(props) {
    var out = {}, n = 0;
    for (var k in props || {}) {
      var v = props[k], t = typeof v;
      if (n >= 20 || !/^[A-Za-z0-9_.-]{1,40}$/.test(k)) continue;
      if (t === 'string') v = cut(v, 500);
      else if (t !== 'boolean' && !(t === 'number' && isFinite(v))) continue;
      out[k] = v;
      n++;
    }
    return out;
  }

  function send(path, body) { // no CORS preflight: a text/plain body, response not read
    if (!(nav.sendBeacon && nav.sendBeacon(api + path, new Blob([body], {type: 'text/plain'})))) post(path, body);
  }
  function post(path, body) {
    return fetch(api + path, {method: 'POST', body: body, keepalive: true, mode: 'no-cors',
      credentials: 'omit', headers: {'content-type': 'text/plain'}}).catch(function () {});
  }
  function flush() { // at most 10 events and ~60 KB a request
    clearTimeout(timer);
    timer = 0;
    while (queue.length) {
      var n = Math.min(queue.length, 10), body;
      while ((body = JSON.stringify({events: queue.slice(0, n)})).length > 2e4 && n > 1) n--;
      queue.splice(0, n);
      send('/v1/events', body);
    }
  }

  function track(type, props, referrer) {
    if (off) return;
    props = clean(props);
    if (TYPES.indexOf(type) < 0) { props.name = cut(type, 500); type = 'custom'; }
    var e = {id: randomId(), type: type, ts: Date.now(), visitor_id: vid, url: cut(location.href, 2048), props: props};
    if (referrer) e.referrer = cut(referrer, 2048);
    queue.push(e);
    if (queue.length >= 10) ready.then(flush);
    else if (!timer) timer = setTimeout(function () { ready.then(flush); }, 1000);
  }
  function page(referrer) {
    var topic = d.querySelector('meta[name="reawake:topic"]');
    lastPath = location.pathname;
    track('page_view', {topic: topic && topic.content, title: d.title}, referrer);
    lastUrl = location.href;
  }
  function identify(email, opts) { // a form: {name, company, consent: bool | {marketing_email, text}}
    if (off) return ready;
    opts = opts || {};
    var body = {visitor_id: vid, email: cut(email, 254)}, c = opts.consent;
    if (opts.name) body.name = cut(opts.name, 200);
    if (opts.company) body.company = cut(opts.company, 200);
    if (c != null) {
      c = typeof c === 'object' ? c : {marketing_email: c};
      body.consent = {marketing_email: !!c.marketing_email, source_url: cut(c.source_url || location.href, 2048)};
      if (c.text) body.consent.text = cut(c.text, 1000);
    }
    return (ready = ready.then(function () { return post('/v1/identify', JSON.stringify(body)); }));
  }
  function optOut() {
    off = true;
    queue = [];
    setCookie('rw_optout', '1', YEARS2);
    setCookie('rw_vid', '', 0);
  }

  // Arrival from a tracked email link: take the identify token out of the address bar.
  var token, kept = location.search.slice(1).split('&').filter(function (p) {
    if (p.indexOf('rw_id=')) return p;
    try { token = decodeURIComponent(p.slice(6)); } catch (e) { /* a broken token is ignored */ }
  });
  if (token !== undefined) {
    history.replaceState(history.state, '', location.pathname + (kept.length ? '?' + kept.join('&') : '') +
      location.hash);
  }

  var pub = {loaded: true, track: track, identify: identify, optOut: optOut, page: page, flush: flush,
    push: function (cmd) { var f = pub[cmd && cmd[0]]; return f && f.apply(null, cmd.slice(1)); }};
  var pending = Array.isArray(w.reawake) ? w.reawake : [];
  w.reawake = pub;

  if (!off) {
    vid = cookie('rw_vid');
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(vid)) vid = randomId();
    setCookie('rw_vid', vid, YEARS2); // first-party: the API's own domain could not set it
    if (token) ready = post('/v1/identify', JSON.stringify({visitor_id: vid, token: token}));
    page(d.referrer);
    // SPA: a page view when the path changes (history API, back/forward).
    ['pushState', 'replaceState'].forEach(function (m) {
      var orig = history[m];
      history[m] = function () { var r = orig.apply(this, arguments); changed(); return r; };
    });
    w.addEventListener('popstate', changed);
    d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') flush(); });
    w.addEventListener('pagehide', flush);
  }
  function changed() { // after the app has set its title and meta for the new route
    setTimeout(function () { if (!off && location.pathname !== lastPath) page(lastUrl); }, 0);
  }
  pending.forEach(pub.push);
})(window, document, navigator);
