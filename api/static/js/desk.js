// The alert desk, live: the desk's Server-Sent Events add each new alert at the top (announced;
// not on the handled alerts' view), and redraw an alert acknowledged, escalated or answered by an
// officer elsewhere. Acknowledging and sending to an officer go to the API with the session's CSRF
// token; a sent alert is redrawn to say where it went.
(function () {
  "use strict";
  var desk = document.getElementById("desk");
  if (!desk) return;
  var K = EPLive.kinds;
  var list = document.getElementById("alerts");
  var announce = document.getElementById("announce");
  var live = document.getElementById("live");
  var last = Number(desk.dataset.after || 0);
  var handledView = desk.dataset.show === "handled";

  var say = EPLive.announcer(announce);

  // An escalated alert nobody has acknowledged goes to the top (unless someone is working in it).
  function escalatedFirst(card) {
    if (!card.classList.contains("ep-card--escalated") || card.contains(document.activeElement)) return;
    if (list.firstElementChild !== card) { list.insertBefore(card, list.firstElementChild); }
    say("Escalated: " + card.querySelector("h2").textContent.replace("Escalated", "").trim());
  }

  function draw(alertId, fresh, escalated) {
    return EPLive.fragment("/app/desk/alerts/" + alertId).then(function (got) {
      var card = got[1];
      if (!card) return;
      var old = document.getElementById(card.id);
      if (old) {
        EPLive.swap(old, card); if (escalated) escalatedFirst(card);
        if (window.EPAlerting) window.EPAlerting.seen(list.querySelectorAll(".ep-card--new:not(.ep-card--confirmed)").length);
      } else if (fresh && !handledView) {
        list.insertBefore(EPLive.listening(card), list.firstChild);  // the list's listener acts on its buttons
        card.classList.add("ep-card--new");
        if (window.EPAlerting) window.EPAlerting.arrived(card.querySelector("h2").textContent.trim());
        var none = document.getElementById("no-alerts"); if (none) none.hidden = true;
        say("New alert: " + card.querySelector("h2").textContent.trim());
      }
    });
  }

  function post(url, body, error) {
    return EPLive.post(url, body).then(function (res) {
      if (!res[0] && error) { error.textContent = res[1].message || "Not saved"; error.hidden = false; }
      return res;
    });
  }

  // Acknowledging and sending, for every card the list holds now or later (a redrawn card needs no
  // wiring of its own).
  list.addEventListener("click", function (ev) {
    var card = ev.target.closest(".ep-card");
    if (!card) return;
    if (ev.target.closest(".ep-ack")) acknowledge(card);
    else if (ev.target.closest(".ep-send-button")) EPLive.sendToOfficer(card, say, function () { draw(card.dataset.alert, false); });
  });
  EPLive.listening(list);

  function acknowledge(card) {
    var id = card.dataset.alert;
    post("/alerts/" + id + "/acknowledge", {note: card.querySelector(".ep-note").value.trim()},
         card.querySelector(".ep-error")).then(function (res) {
      if (res[1].signedOut) return;  // the note stays where it was typed
      if (res[0]) { EPLive.current(card).querySelector(".ep-note").value = ""; say("Acknowledged"); }  // not kept for the redraw
      draw(id, false);
    });
  }

  // A new alert is drawn at the top; one acknowledged, escalated or answered is redrawn in place.
  var redrawn = [K.ALERT_ACKNOWLEDGED, K.ALERT_ESCALATED, K.ALERT_REPLY];
  function handle(e) {
    last = Math.max(last, e.id);
    if (e.alert_id) draw(e.alert_id, redrawn.indexOf(e.kind) < 0, e.kind === K.ALERT_ESCALATED);
    if (e.kind === K.ALERT_REPLY) say(e.device + ": " + e.reply);
  }

  EPLive.feed("/alerts/events?after=" + last, live, handle);
})();
