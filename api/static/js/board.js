// The incident board, live: the incident's Server-Sent Events (the same feed as the API) add
// evidence, progress, potential matches, hotlist hits and plates without a reload. New cards are
// added at the end (nothing moves under the pointer or the keyboard focus), announced politely,
// and marked new until seen. Reviews go to the API with the session's CSRF token; the event kinds, their
// wording and the timeline's rows come from the server (EPLive, live.js).
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.EPLive) return;
  var K = EPLive.kinds, post = EPLive.post;
  var incident = board.dataset.incident;
  var cards = document.getElementById("cards");
  var reviewed = document.getElementById("reviewed");
  var newCount = document.getElementById("new-count");
  var live = document.getElementById("live");
  var last = Number(board.dataset.after || 0);
  var unseen = new Set();
  var say = EPLive.announcer(document.getElementById("announce"));

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

  // A timeline row: the event in the server's words (``what``), at its time.
  function addTimeline(e) {
    var li = document.createElement("li");
    var t = document.createElement("time");
    t.dateTime = e.at; t.textContent = clock(e.at);
    li.appendChild(t); li.appendChild(document.createTextNode(e.what));
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

  // The item as the server renders it (who sent it and what they said come only from there).
  function fetchEvidence(id) {
    return EPLive.fragment("/app/incidents/" + incident + "/evidence/" + id).then(function (got) {
      var old = document.getElementById("evidence-" + id);
      if (got[1] && old) EPLive.swap(old, got[1]);
    });
  }

  function emptied() {
    document.getElementById("no-cards").hidden = !!cards.querySelector(".ep-card");
    document.getElementById("no-reviewed").hidden = !!reviewed.querySelector(".ep-card");
  }

  // A card as the server renders it now: added, redrawn in place, moved to "Reviewed" once decided,
  // or taken away when the full analysis withdrew it (a quick-pass match it replaced).
  function addCard(eventId, fresh) {
    return EPLive.fragment("/app/incidents/" + incident + "/cards/" + eventId).then(function (got) {
      var card = got[1];
      if (got[0] === 404) {
        var gone = document.querySelector('.ep-card[data-event="' + eventId + '"]');
        if (gone) { gone.remove(); emptied(); }
      }
      if (!card) return;
      var old = document.getElementById(card.id);
      var decided = card.classList.contains("ep-card--confirmed") || card.classList.contains("ep-card--rejected");
      if (old && decided && old.parentNode === cards) {
        EPLive.keepPictures(old, card);
        old.remove(); reviewed.insertBefore(card, reviewed.firstElementChild); emptied();
      } else if (old) { EPLive.swap(old, card); } else {
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
    if (e.kind === K.EVIDENCE_DONE || e.kind === K.EVIDENCE_FAILED) {
      say(EPLive.wording[e.kind] + ": " + name + (e.reason ? ": " + e.reason : "")); return;
    }
    var quarter = Math.floor((e.progress || 0) * 4);
    if (e.kind === K.EVIDENCE_PROGRESS && quarter > (spoken[e.evidence_id] || 0) && quarter < 4) {
      spoken[e.evidence_id] = quarter; say(name + " " + quarter * 25 + " % analysed");
    }
  }

  var STATE = {};  // what an evidence item's line says once the kind arrives
  STATE[K.EVIDENCE_ANALYSING] = "analysing"; STATE[K.EVIDENCE_DONE] = "done"; STATE[K.EVIDENCE_FAILED] = "failed";

  function handle(e) {
    last = Math.max(last, e.id);
    if (EPLive.onTimeline(e.kind) && e.what) addTimeline(e);
    if (e.kind === K.EVIDENCE_RECEIVED) {
      evidenceItem(e); fetchEvidence(e.evidence_id); say(EPLive.wording[e.kind] + ": " + (e.name || "a video"));
    } else if (e.kind === K.EVIDENCE_PROGRESS || e.kind in STATE) {
      var li = evidenceItem(e);
      if (typeof e.progress === "number") li.querySelector("progress").value = e.progress;
      if (STATE[e.kind]) li.querySelector(".ep-state").textContent = STATE[e.kind] + (e.reason ? ": " + e.reason : "");
      progressSaid(e);
      if (e.kind === K.EVIDENCE_DONE) {  // the full analysis may have changed a card's facts, or withdrawn it
        Array.prototype.forEach.call(document.querySelectorAll('.ep-card[data-evidence="' + e.evidence_id + '"]'),
          function (c) { addCard(c.dataset.event, false); });
      }
    } else if (e.kind === K.CANDIDATE || e.kind === K.ANPR_HIT) {
      addCard(e.id, true);
    } else if (e.kind === K.CANDIDATE_REVIEWED) {
      var card = document.querySelector('[data-candidate-id="' + e.candidate_id + '"]');
      if (card) addCard(card.dataset.event, false);
    } else if (e.kind === K.PLATE_SIGHTING) {
      var none = document.getElementById("no-plates"); if (none) none.remove();
      var p = document.createElement("li");
      p.textContent = e.plate + " at " + Number(e.t_s).toFixed(1) + " s";
      document.getElementById("plates").appendChild(p);
      say(EPLive.wording[e.kind] + ": " + e.plate);
    } else if (e.kind === K.ALERT_REPLY) {
      var answered = document.querySelector('.ep-card[data-alert="' + e.alert_id + '"]');
      if (answered) { addCard(answered.dataset.event, false); say(e.device + ": " + e.reply); }
    }
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
      var card = EPLive.current(form.closest(".ep-card"));
      var typed = card.querySelector(".ep-reason");
      if (typed) typed.value = "";  // recorded with the decision: the redraw does not carry it over
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

  function wire(card) {
    EPLive.listening(card);
    var sendButton = card.querySelector(".ep-send-button");
    if (sendButton && !sendButton.dataset.wired) {
      sendButton.dataset.wired = "yes";
      sendButton.addEventListener("click", function () {
        EPLive.sendToOfficer(card, say, function () { addCard(card.dataset.event, false); });  // where it went, how it stands
      });
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
  EPLive.feed("/incidents/" + incident + "/events?after=" + last + "&seen=" + board.dataset.seen, live, handle);
})();
