// What every live page shares (the incident board, the alert desk): the event catalogue as the
// server serves it (kinds by name, never written here as strings), a screen-reader announcer,
// pieces of the page fetched as the server renders them, changes sent to the JSON API with the
// session's CSRF token, and a live feed (Server-Sent Events) that says when it is live.
(function () {
  "use strict";
  var served = document.getElementById("ep-events");
  var catalogue = served ? JSON.parse(served.textContent) : {kinds: {}, wording: {}, timeline: []};
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var SIGNED_OUT = "You have been signed out: sign in again (what you typed is kept), then send it again";

  // What a screen reader hears: what arrives within half a second is said together, not overwritten.
  function announcer(region) {
    var heard = [], speaking = null;
    return function (text) {
      heard.push(text);
      if (speaking) return;
      speaking = setTimeout(function () {
        var all = heard.join(". "); heard = []; speaking = null;
        region.textContent = ""; setTimeout(function () { region.textContent = all; }, 50);
      }, 500);
    };
  }

  // A piece of the page as the server renders it now: [HTTP status, element or null]. The page
  // redrawing itself is not the person's activity (X-EP-Refresh): an unattended board still signs out.
  function fragment(url) {
    return fetch(url, {credentials: "same-origin", headers: {"X-EP-Refresh": "1"}}).then(function (r) {
      return (r.ok ? r.text() : Promise.resolve("")).then(function (html) {
        if (!html) return [r.status, null];
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        return [r.status, holder.firstElementChild];
      });
    });
  }

  // A picture ``old`` already shows stays in ``fresh`` as it is. The server names a view's images
  // with that view's audit entry (?seen=N), so a redrawn card's faces would be fetched again under a
  // new address, blank while they load; a picture that changed has another address (its ?v=).
  function keepPictures(old, fresh) {
    var shown = {};
    function picture(src) { return src.replace(/([?&])seen=\d+(&|$)/, "$1").replace(/[?&]$/, ""); }
    Array.prototype.forEach.call(old.querySelectorAll("img[src]"), function (img) {
      shown[picture(img.getAttribute("src"))] = img.getAttribute("src");
    });
    Array.prototype.forEach.call(fresh.querySelectorAll("img[src]"), function (img) {
      var had = shown[picture(img.getAttribute("src"))];
      if (had) img.setAttribute("src", had);
    });
    return fresh;
  }

  // Put ``fresh`` (the server's rendering now) where ``old`` is, keeping what the person was doing
  // in it: what they typed or chose in a field that is still there, and the field they were in.
  // A live redraw (someone else acknowledged, a reply arrived) never wipes a half-written note.
  function swap(old, fresh) {  // returns fresh; ``current(el)`` finds an element's card after swaps
    keepPictures(old, fresh);
    var focused = old.contains(document.activeElement) ? document.activeElement : null;
    Array.prototype.forEach.call(old.querySelectorAll("input[id], textarea[id], select[id]"), function (field) {
      var twin = fresh.querySelector("#" + CSS.escape(field.id));
      if (!twin || twin.tagName !== field.tagName || field.type === "hidden") return;
      if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked !== field.defaultChecked) twin.checked = field.checked;
      } else if (field.tagName === "SELECT") {
        var still = Array.prototype.some.call(twin.options, function (o) { return o.value === field.value; });
        if (still) twin.value = field.value;
      } else if (field.value !== field.defaultValue) {
        twin.value = field.value;
      }
    });
    old.replaceWith(fresh);
    listening(fresh);  // in place of a card the page's script was already listening to
    if (focused && focused.id) {  // the card itself (j/k on the board) or a field in it
      var again = fresh.id === focused.id ? fresh : fresh.querySelector("#" + CSS.escape(focused.id));
      if (again) {
        again.focus();
        if (typeof focused.selectionStart === "number" && again.setSelectionRange) {
          try { again.setSelectionRange(focused.selectionStart, focused.selectionEnd); } catch (e) { /* not a text field */ }
        }
      }
    }
    return fresh;
  }

  // The element as the page holds it now: ``el`` itself, or its twin (same id) in a card redrawn since.
  function current(el) {
    return (el.id && document.getElementById(el.id)) || el;
  }

  // A change through the JSON API: [ok, body]; body.signedOut when the session has ended (what
  // the person typed stays where it is).
  function post(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body)})
      .then(function (r) {
        if (r.status === 401 && window.EPSession) window.EPSession.signedOut();
        return r.json().then(function (b) {
          if (r.status === 401) b = {message: SIGNED_OUT, signedOut: true};
          return [r.ok, b];
        });
      });
  }

  // The live feed at ``url``: ``handle(event)`` for each event of the catalogue's kinds; ``status``
  // (an element) says "live" or "reconnecting"; a feed the server refuses asks for sign-in again.
  function feed(url, status, handle) {
    var source = new EventSource(url);
    source.onopen = function () {  // the page says "connecting" until now: never "live" before it is
      status.textContent = "live"; status.classList.remove("ep-live--lost", "ep-live--connecting");
    };
    source.onerror = function () {
      status.textContent = "reconnecting"; status.classList.remove("ep-live--connecting"); status.classList.add("ep-live--lost");
      if (source.readyState === EventSource.CLOSED && window.EPSession) window.EPSession.signedOut();  // refused
    };
    document.addEventListener("ep:signed-out", function () { source.close(); });
    source.onmessage = function (m) { handle(JSON.parse(m.data)); };
    Object.keys(catalogue.kinds).forEach(function (name) {
      source.addEventListener(catalogue.kinds[name], function (m) { handle(JSON.parse(m.data)); });
    });
    return source;
  }

  // Sending a card's alert (a confirmed match, a hit) to the officer chosen in it, with its note; on
  // success the note is cleared (sent with it: the redraw starts a new one), ``say`` announces it and
  // ``redraw()`` draws the card again to show where it went. A refusal is said in the card.
  function sendToOfficer(card, say, redraw) {
    var box = card.querySelector(".ep-send"), done = card.querySelector(".ep-sent");
    var device = box.querySelector(".ep-device");
    return post("/alerts/" + box.dataset.alert + "/send", {device_id: Number(device.value),
                                                         note: box.querySelector(".ep-send-note").value.trim()})
      .then(function (res) {
        if (!res[0]) { done.textContent = res[1].message || "Not sent"; done.hidden = false; return; }
        current(card).querySelector(".ep-send-note").value = "";
        say("Sending to " + device.selectedOptions[0].textContent);
        redraw();
      });
  }

  // A button only the page's script can act on comes disabled (``data-needs-script``): clicked before
  // the deferred script ran it would do nothing at all. The page's script enables the buttons of a
  // card once it listens to them — the cards in the page at load and every card it draws later.
  function listening(root) {
    Array.prototype.forEach.call(root.querySelectorAll("button[data-needs-script]"), function (b) { b.disabled = false; });
    return root;
  }

  window.EPLive = {kinds: catalogue.kinds, wording: catalogue.wording, onTimeline: function (kind) {
    return catalogue.timeline.indexOf(kind) >= 0;
  }, announcer: announcer, fragment: fragment, swap: swap, keepPictures: keepPictures, current: current, post: post, feed: feed,
                   listening: listening, sendToOfficer: sendToOfficer};
})();
