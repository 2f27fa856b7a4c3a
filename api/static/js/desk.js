// The alert desk, live: the desk's Server-Sent Events add each new alert at the top (announced;
// not on the handled alerts' view), and redraw an alert acknowledged, escalated or answered by an
// officer elsewhere. Acknowledging and sending to an officer go to the API with the session's CSRF
// token; a sent alert is redrawn to say where it went.
(function () {
  "use strict";
  var desk = document.getElementById("desk");
  if (!desk) return;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var list = document.getElementById("alerts");
  var announce = document.getElementById("announce");
  var live = document.getElementById("live");
  var last = Number(desk.dataset.after || 0);
  var handledView = desk.dataset.show === "handled";

  function say(text) { announce.textContent = ""; setTimeout(function () { announce.textContent = text; }, 50); }

  // An escalated alert nobody has acknowledged goes to the top (unless someone is working in it).
  function escalatedFirst(card) {
    if (!card.classList.contains("ep-card--escalated") || card.contains(document.activeElement)) return;
    if (list.firstElementChild !== card) { list.insertBefore(card, list.firstElementChild); }
    say("Escalated: " + card.querySelector("h2").textContent.replace("Escalated", "").trim());
  }

  function draw(alertId, fresh, escalated) {
    return fetch("/app/desk/alerts/" + alertId, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!html) return;
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var card = holder.firstElementChild;
        var old = document.getElementById(card.id);
        if (old) {
          old.replaceWith(card); if (escalated) escalatedFirst(card);
          if (window.EPAlerting) window.EPAlerting.seen(list.querySelectorAll(".ep-card--new:not(.ep-card--confirmed)").length);
        } else if (fresh && !handledView) {
          list.insertBefore(card, list.firstChild);
          card.classList.add("ep-card--new");
          if (window.EPAlerting) window.EPAlerting.arrived(card.querySelector("h2").textContent.trim());
          var none = document.getElementById("no-alerts"); if (none) none.hidden = true;
          say("New alert: " + card.querySelector("h2").textContent.trim());
        }
        wire(card);
      });
  }

  function post(url, body, error) {
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body)})
      .then(function (r) {
        if (r.status === 401 && window.EPSession) window.EPSession.signedOut();
        return r.json().then(function (b) {
          if (r.status === 401) b = {message: "You have been signed out: sign in again (what you typed is kept), then send it again", signedOut: true};
          return [r.ok, b];
        });
      })
      .then(function (res) {
        if (!res[0] && error) { error.textContent = res[1].message || "Not saved"; error.hidden = false; }
        return res;
      });
  }

  function wire(card) {
    var ack = card.querySelector(".ep-ack");
    if (ack) ack.addEventListener("click", function () {
      var id = card.dataset.alert;
      post("/alerts/" + id + "/acknowledge", {note: card.querySelector(".ep-note").value.trim()},
           card.querySelector(".ep-error")).then(function (res) {
        if (res[1].signedOut) return;  // the note stays where it was typed
        draw(id, false); if (res[0]) say("Acknowledged");
      });
    });
    var send = card.querySelector(".ep-send-button");
    if (send) send.addEventListener("click", function () {
      var box = card.querySelector(".ep-send"), done = card.querySelector(".ep-sent");
      post("/alerts/" + card.dataset.alert + "/send", {device_id: Number(box.querySelector(".ep-device").value),
           note: box.querySelector(".ep-send-note").value.trim()}, done).then(function (res) {
        if (res[0]) { say("Sending to " + box.querySelector(".ep-device").selectedOptions[0].textContent); draw(card.dataset.alert, false); }
      });
    });
  }

  function connect() {
    var source = new EventSource("/alerts/events?after=" + last);
    source.onopen = function () { live.textContent = "live"; live.classList.remove("ep-live--lost"); };
    source.onerror = function () {
      live.textContent = "reconnecting"; live.classList.add("ep-live--lost");
      if (source.readyState === EventSource.CLOSED && window.EPSession) window.EPSession.signedOut();  // refused
    };
    document.addEventListener("ep:signed-out", function () { source.close(); });
    ["candidate", "anpr.hit", "evidence.failed", "subscription.failing", "anpr.camera_silent", "alert.acknowledged",
     "alert.escalated", "alert.reply"]
      .forEach(function (k) {
        source.addEventListener(k, function (m) {
          var e = JSON.parse(m.data);
          last = Math.max(last, e.id);
          if (e.alert_id) draw(e.alert_id, k !== "alert.acknowledged" && k !== "alert.escalated" && k !== "alert.reply",
                               k === "alert.escalated");
          if (k === "alert.reply") say(e.device + ": " + e.reply);
        });
      });
  }

  Array.prototype.forEach.call(list.querySelectorAll(".ep-card"), wire);
  connect();
})();
