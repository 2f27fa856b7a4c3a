// A signed-in page's session, as the GOV.UK timeout pattern has it: two minutes before the session
// would end for want of activity, a dialog offers to stay signed in; once it has ended, the page
// says so (a live page stops saying "live"), and what the person typed is kept — a form sent
// after the end goes to the sign-in page instead, and its fields are put back on return.
// Time is counted from what the server says is left, never from the browser's own clock.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="session-left"]');
  if (!meta) return;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var WARN_MS = 120000;
  var KEY = "ep-kept:" + location.pathname + location.search;
  var dialog = document.getElementById("timeout");
  var leftText = document.getElementById("timeout-left");
  var said = document.getElementById("timeout-said");
  var endsAt = Date.now() + Number(meta.content) * 1000;  // re-asked of the server before acting on it
  var timer = null, ticker = null, ended = false;

  function words(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000)), m = Math.floor(s / 60);
    if (m >= 1 && s % 60 === 0) return m + (m === 1 ? " minute" : " minutes");
    if (m >= 1) return m + (m === 1 ? " minute " : " minutes ") + (s % 60) + " seconds";
    return s + (s === 1 ? " second" : " seconds");
  }

  // A banner kept in a <template> until needed, put at the top of the page's main content.
  function show(templateId) {
    var banner = document.getElementById(templateId).content.firstElementChild.cloneNode(true);
    var main = document.getElementById("main-content");
    main.insertBefore(banner, main.firstChild);
    return banner;
  }

  function signInUrl() { return "/signin?next=" + encodeURIComponent(location.pathname + location.search); }

  // Every field a person typed in on this page (not passwords, files or hidden fields), by id.
  function keep() {
    var kept = {};
    Array.prototype.forEach.call(document.querySelectorAll("main input[id], main textarea[id], main select[id]"),
      function (f) {
        if (/^(password|hidden|file|submit|button|checkbox|radio)$/.test(f.type) || !f.value) return;
        if (f.defaultValue === f.value && f.tagName !== "SELECT") return;  // nothing typed
        kept[f.id] = f.value;
      });
    if (Object.keys(kept).length) sessionStorage.setItem(KEY, JSON.stringify(kept));
  }

  function restore() {
    var raw = sessionStorage.getItem(KEY);
    if (!raw) return;
    sessionStorage.removeItem(KEY);
    var kept = {};
    try { kept = JSON.parse(raw) || {}; } catch (e) { return; }
    var any = false;
    Object.keys(kept).forEach(function (id) {
      var f = document.getElementById(id);
      if (f && !f.value) { f.value = kept[id]; any = true; }
    });
    if (any) show("kept-banner").focus();
  }

  function signedOut() {
    if (ended) return;
    ended = true;
    clearTimeout(timer); clearInterval(ticker);
    if (dialog.open) dialog.close();
    keep();
    show("signed-out-banner").querySelector("#sign-in-again").href = signInUrl();
    var live = document.getElementById("live");
    if (live) { live.textContent = "not live — sign in"; live.classList.add("ep-live--lost"); }
    document.dispatchEvent(new CustomEvent("ep:signed-out"));
  }

  function ask() {
    return fetch("/app/session", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.status === 401 ? null : r.json(); })
      .then(function (b) { if (!b) { signedOut(); return null; } endsAt = Date.now() + b.seconds_left * 1000; return b; })
      .catch(function () { return undefined; });  // offline: ask again later
  }

  function countdown() {
    var left = endsAt - Date.now();
    leftText.textContent = words(left);
    var s = Math.ceil(left / 1000);
    if (s === 120 || s === 60 || s === 30 || s === 10) said.textContent = "You will be signed out in " + words(left);
    if (left <= 0) { clearInterval(ticker); ask().then(schedule); }
  }

  function warn() {
    leftText.textContent = words(endsAt - Date.now());
    said.textContent = "You will be signed out in " + words(endsAt - Date.now());
    if (!dialog.open) dialog.showModal();
    clearInterval(ticker);
    ticker = setInterval(countdown, 1000);
  }

  function schedule() {
    if (ended) return;
    clearTimeout(timer);
    var left = endsAt - Date.now();
    if (left <= WARN_MS) { warn(); return; }
    if (dialog.open) { dialog.close(); clearInterval(ticker); }
    // Activity elsewhere (another tab, a form sent) moves the end: ask before warning. The page's
    // own redraws (X-EP-Refresh) do not: a screen nobody touches is signed out however busy its feed.
    timer = setTimeout(function () { ask().then(schedule); }, Math.min(left - WARN_MS, 600000));
  }

  document.getElementById("timeout-stay").addEventListener("click", function () {
    fetch("/app/session/extend", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrf}})
      .then(function (r) { return r.status === 401 ? null : r.json(); })
      .then(function (b) {
        if (!b || !b.signed_in) { signedOut(); return; }
        endsAt = Date.now() + b.seconds_left * 1000;
        clearInterval(ticker); dialog.close(); schedule();
      });
  });
  document.getElementById("timeout-signout").addEventListener("click", function (ev) {
    ev.preventDefault();
    var form = document.querySelector('form[action="/signout"]');
    if (form) form.submit();
  });
  dialog.addEventListener("cancel", function (ev) { ev.preventDefault(); document.getElementById("timeout-stay").click(); });

  // A form sent once the session has ended would be refused and its words lost: keep them, sign in.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.getAttribute("action") === "/signout" || (form.method || "").toLowerCase() !== "post") return;
    if (!ended && Date.now() < endsAt) return;
    ev.preventDefault();
    var sendAnyway = !ended;
    (sendAnyway ? ask() : Promise.resolve(null)).then(function (b) {
      if (b || b === undefined) { schedule(); form.submit(); return; }  // alive after all, or offline: it goes
      signedOut();
      location.href = signInUrl();
    });
  }, true);

  // The page's own scripts report a request refused for want of a session.
  window.EPSession = {signedOut: function () { ask().then(function (b) { if (b) schedule(); else signedOut(); }); },
                      keep: keep};
  restore();
  schedule();
})();
