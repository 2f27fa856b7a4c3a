// The incident board, live: the incident's Server-Sent Events (the same feed as the API) add
// evidence, progress, potential matches, hotlist hits and plates without a reload. New cards are
// added at the end (nothing moves under the pointer or the keyboard focus), announced politely,
// and marked new until seen. Reviews go to the API with the session's CSRF token.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) return;
  var incident = board.dataset.incident;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var cards = document.getElementById("cards");
  var reviewed = document.getElementById("reviewed");
  var announce = document.getElementById("announce");
  var newCount = document.getElementById("new-count");
  var live = document.getElementById("live");
  var last = Number(board.dataset.after || 0);
  var unseen = new Set();

  // What a screen reader hears: what arrives within half a second is said together, not overwritten.
  var heard = [], speaking = null;
  function say(text) {
    heard.push(text);
    if (speaking) return;
    speaking = setTimeout(function () {
      var all = heard.join(". "); heard = []; speaking = null;
      announce.textContent = ""; setTimeout(function () { announce.textContent = all; }, 50);
    }, 500);
  }
  function clock(iso) { var d = new Date(iso); return isNaN(d) ? "" : d.toISOString().slice(11, 19); }  // UTC, as the page
  function showCount() {
    newCount.hidden = unseen.size === 0;
    newCount.textContent = unseen.size + " new";
    if (window.EPAlerting) window.EPAlerting.seen(unseen.size);  // the tab's title says it too
  }
  function seen(card) {
    if (!unseen.has(card.id)) return;
    unseen.delete(card.id);
    setTimeout(function () { card.classList.remove("ep-card--new"); }, 2000);
    showCount();
  }
  var watcher = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) { if (e.isIntersecting) setTimeout(function () { seen(e.target); }, 1500); });
  }, {threshold: 0.6}) : null;

  function addTimeline(e, text) {
    var li = document.createElement("li");
    var t = document.createElement("time");
    t.dateTime = e.at; t.textContent = clock(e.at);
    li.appendChild(t); li.appendChild(document.createTextNode(text));
    document.getElementById("timeline").appendChild(li);
  }

  function evidenceItem(e) {
    var li = document.getElementById("evidence-" + e.evidence_id);
    if (!li) {
      var none = document.getElementById("no-evidence"); if (none) none.remove();
      li = document.createElement("li");
      li.id = "evidence-" + e.evidence_id;
      li.innerHTML = '<strong></strong> <span class="ep-state">queued</span> ' +
        '<progress class="ep-progress" max="1" value="0"></progress>';
      li.querySelector("strong").textContent = e.name || ("evidence " + e.evidence_id);
      li.querySelector("progress").setAttribute("aria-label", (e.name || "evidence") + " analysed");
      document.getElementById("evidence").appendChild(li);
    }
    return li;
  }

  // A piece of the page as the server renders it (an element, or null): HTML made into a node once.
  function element(html) {
    if (!html) return null;
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  // The item as the server renders it (who sent it and what they said come only from there).
  function fetchEvidence(id) {
    return fetch("/app/incidents/" + incident + "/evidence/" + id, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        var old = document.getElementById("evidence-" + id), item = element(html);
        if (item && old) old.replaceWith(item);
      });
  }

  function emptied() {
    document.getElementById("no-cards").hidden = !!cards.querySelector(".ep-card");
    document.getElementById("no-reviewed").hidden = !!reviewed.querySelector(".ep-card");
  }

  // A card as the server renders it now: added, redrawn in place, moved to "Reviewed" once decided,
  // or taken away when the full analysis withdrew it (a quick-pass match it replaced).
  function addCard(eventId, fresh) {
    return fetch("/app/incidents/" + incident + "/cards/" + eventId, {credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 404) {
          var gone = document.querySelector('.ep-card[data-event="' + eventId + '"]');
          if (gone) { gone.remove(); emptied(); }
        }
        return r.ok ? r.text() : "";
      })
      .then(function (html) {
        var card = element(html);
        if (!card) return;
        var old = document.getElementById(card.id);
        var decided = card.classList.contains("ep-card--confirmed") || card.classList.contains("ep-card--rejected");
        if (old && decided && old.parentNode === cards) {
          old.remove(); reviewed.insertBefore(card, reviewed.firstElementChild); emptied();
        } else if (old) { old.replaceWith(card); } else {
          document.getElementById("no-cards").hidden = true;
          cards.insertBefore(card, document.getElementById("no-cards"));
          if (fresh) {
            card.classList.add("ep-card--new");
            if (window.EPAlerting) window.EPAlerting.arrived(card.querySelector("h3").textContent);
            unseen.add(card.id); showCount();
            if (watcher) watcher.observe(card);
            say(card.querySelector("h3").textContent);
          }
        }
        wire(card);
      });
  }

  var spoken = {};  // the last quarter of each video's analysis announced
  function progressSaid(e) {
    var name = e.name || (document.querySelector("#evidence-" + e.evidence_id + " strong") || {}).textContent || "Video";
    if (e.kind === "evidence.done") { say("Analysis done: " + name); return; }
    if (e.kind === "evidence.failed") { say("Analysis failed: " + name + (e.reason ? ": " + e.reason : "")); return; }
    var quarter = Math.floor((e.progress || 0) * 4);
    if (e.kind === "evidence.progress" && quarter > (spoken[e.evidence_id] || 0) && quarter < 4) {
      spoken[e.evidence_id] = quarter; say(name + " " + quarter * 25 + " % analysed");
    }
  }

  function handle(e) {
    last = Math.max(last, e.id);
    if (e.kind === "evidence.received") {
      evidenceItem(e); fetchEvidence(e.evidence_id); say("Video received: " + (e.name || "a video")); addTimeline(e, "Video received: " + (e.name || "") + (e.reference ? ", witness reference " + e.reference : "") + " (SHA-256 " + (e.sha256 || "").slice(0, 12) + "…)");
    } else if (e.kind === "evidence.progress" || e.kind === "evidence.analysing" || e.kind === "evidence.done"
               || e.kind === "evidence.failed") {
      var li = evidenceItem(e);
      if (typeof e.progress === "number") li.querySelector("progress").value = e.progress;
      var state = {"evidence.analysing": "analysing", "evidence.done": "done", "evidence.failed": "failed"}[e.kind];
      if (state) li.querySelector(".ep-state").textContent = state + (e.reason ? ": " + e.reason : "");
      if (e.kind !== "evidence.progress") addTimeline(e, "Video " + (state || ""));
      progressSaid(e);
      if (e.kind === "evidence.done") {  // the full analysis may have changed a card's facts, or withdrawn it
        Array.prototype.forEach.call(document.querySelectorAll('.ep-card[data-evidence="' + e.evidence_id + '"]'),
          function (c) { addCard(c.dataset.event, false); });
      }
    } else if (e.kind === "candidate") {
      addTimeline(e, "Potential match: " + e.subject);
      addCard(e.id, true);
    } else if (e.kind === "candidate.reviewed") {
      addTimeline(e, "Reviewed: " + e.subject + " " + e.review_state + " by " + e.reviewed_by);
      var card = document.querySelector('[data-candidate-id="' + e.candidate_id + '"]');
      if (card) addCard(card.dataset.event, false);
    } else if (e.kind === "anpr.hit") {
      addTimeline(e, "Hotlist hit: " + e.hotlist_vrm);
      addCard(e.id, true);
    } else if (e.kind === "plate.sighting") {
      var none = document.getElementById("no-plates"); if (none) none.remove();
      var p = document.createElement("li");
      p.textContent = e.plate + " at " + Number(e.t_s).toFixed(1) + " s";
      document.getElementById("plates").appendChild(p);
      say("Plate seen: " + e.plate);
    } else if (e.kind === "public.update") {
      addTimeline(e, "Public update: " + e.text);
    } else if (e.kind === "incident.passed") {
      addTimeline(e, "Passed to investigators: " + e.reason);
    } else if (e.kind === "upload_link.created") {
      addTimeline(e, "Upload link made by " + e.by);
    } else if (e.kind === "upload_link.sent") {
      addTimeline(e, "Upload link sent: by " + e.how + " to " + e.to);
    } else if (e.kind === "alert.reply") {
      addTimeline(e, "Officer's answer: " + e.device + " " + e.reply);
      var answered = document.querySelector('.ep-card[data-alert="' + e.alert_id + '"]');
      if (answered) { addCard(answered.dataset.event, false); say(e.device + ": " + e.reply); }
    }
  }

  function connect() {
    var source = new EventSource("/incidents/" + incident + "/events?after=" + last + "&seen=" + board.dataset.seen);
    source.onopen = function () { live.textContent = "live"; live.classList.remove("ep-live--lost"); };
    source.onerror = function () {
      live.textContent = "reconnecting"; live.classList.add("ep-live--lost");
      if (source.readyState === EventSource.CLOSED && window.EPSession) window.EPSession.signedOut();  // refused
    };
    document.addEventListener("ep:signed-out", function () { source.close(); });
    source.onmessage = function (m) { handle(JSON.parse(m.data)); };
    ["evidence.received", "evidence.analysing", "evidence.progress", "evidence.done", "evidence.failed", "candidate",
     "candidate.reviewed", "anpr.hit", "plate.sighting", "plate.reviewed", "upload_link.created", "upload_link.sent",
     "public.update",
     "incident.passed", "alert.reply"].forEach(function (k) {
      source.addEventListener(k, function (m) { handle(JSON.parse(m.data)); });
    });
  }

  // A change through the JSON API with the session's CSRF token: [ok, body].
  function post(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body)})
      .then(function (r) {
        if (r.status === 401 && window.EPSession) window.EPSession.signedOut();
        return r.json().then(function (b) {
          if (r.status === 401) b = {message: "You have been signed out: sign in again (what you typed is kept), then send it again"};
          return [r.ok, b];
        });
      });
  }

  function review(form, decision) {
    var reason = form.querySelector(".ep-reason");
    var error = form.querySelector(".ep-review-error");
    if (!reason.value.trim()) {
      error.textContent = "Write the reason for your decision first";
      error.hidden = false; reason.focus(); return;
    }
    error.hidden = true;
    post("/candidates/" + form.dataset.candidate + "/review", {decision: decision, reason: reason.value.trim()})
      .then(function (res) {
      if (!res[0]) { error.textContent = res[1].message || "Not saved"; error.hidden = false; return; }
      var card = form.closest(".ep-card");
      var all = Array.prototype.slice.call(cards.querySelectorAll(".ep-card"));
      var next = all[all.indexOf(card) + 1] || all[all.indexOf(card) - 1];  // the next still to review
      addCard(card.dataset.event, false).then(function () {
        var done = decision === "confirmed" ? "Confirmed" : "Rejected";
        if (next && next.parentNode === cards) {
          next.focus(); seen(next); say(done + ". Next: " + next.querySelector("h3").textContent);
        } else {
          var again = document.getElementById(card.id); if (again) again.focus();
          say(done + ". Nothing else needs review.");
        }
      });
    });
  }

  function send(card) {
    var box = card.querySelector(".ep-send"), done = card.querySelector(".ep-sent");
    post("/alerts/" + box.dataset.alert + "/send", {device_id: Number(box.querySelector(".ep-device").value),
                                                  note: box.querySelector(".ep-send-note").value.trim()})
      .then(function (res) {
      if (!res[0]) { done.textContent = res[1].message || "Not sent"; done.hidden = false; return; }
      say("Sending to " + box.querySelector(".ep-device").selectedOptions[0].textContent);
      addCard(card.dataset.event, false);  // redrawn: where it went, and how the delivery stands
    });
  }

  function wire(card) {
    var sendButton = card.querySelector(".ep-send-button");
    if (sendButton && !sendButton.dataset.wired) {
      sendButton.dataset.wired = "yes";
      sendButton.addEventListener("click", function () { send(card); });
    }
    var form = card.querySelector(".ep-review");
    if (form && !form.dataset.wired) {
      form.dataset.wired = "yes";
      form.addEventListener("click", function (ev) {
        var button = ev.target.closest("button[value]");
        if (button) review(form, button.value);
      });
    }
    card.addEventListener("focusin", function () { seen(card); });
  }

  function move(step) {
    var all = Array.prototype.slice.call(document.querySelectorAll("#cards .ep-card, #reviewed .ep-card"));
    if (!all.length) return;
    var at = all.indexOf(document.activeElement.closest && document.activeElement.closest(".ep-card"));
    var next = all[Math.max(0, Math.min(all.length - 1, at + step))] || all[0];
    next.focus(); next.scrollIntoView({block: "nearest"}); seen(next);
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var inField = /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName);
    var card = document.activeElement.closest ? document.activeElement.closest(".ep-card") : null;
    if (ev.key === "Escape" && inField && card) { card.focus(); return; }
    if (inField) return;
    if (ev.key === "j") { move(1); ev.preventDefault(); }
    else if (ev.key === "k") { move(-1); ev.preventDefault(); }
    else if (card && (ev.key === "c" || ev.key === "x")) {
      var form = card.querySelector(".ep-review");
      if (form) { ev.preventDefault(); review(form, ev.key === "c" ? "confirmed" : "rejected"); }
    } else if (card && ev.key === "v") {
      var watch = card.querySelector(".ep-watch"); if (watch) { ev.preventDefault(); watch.click(); }
    } else if (card && ev.key === "f") {
      var faces = card.querySelector(".ep-compare-link"); if (faces) { ev.preventDefault(); faces.click(); }
    }
  });

  Array.prototype.forEach.call(document.querySelectorAll("#cards .ep-card, #reviewed .ep-card"), wire);
  connect();
})();
