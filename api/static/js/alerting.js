// In-page alerting for the board and the desk: the number of new items in the tab's title (seen
// from another tab or window), and, if the operator turns them on, a short sound and a browser
// notification while the page is in the background. Nothing is on unless chosen; the choice is
// kept in this browser.
(function () {
  "use strict";
  var base = document.title, count = 0;
  var controls = document.getElementById("alerting");
  var soundBox = document.getElementById("alert-sound"), notifyBox = document.getElementById("alert-notify");
  function on(key) { try { return localStorage.getItem(key) === "yes"; } catch (e) { return false; } }
  function keep(key, value) { try { localStorage.setItem(key, value ? "yes" : "no"); } catch (e) { /* private mode */ } }
  if (controls) {
    controls.hidden = false;
    soundBox.checked = on("ep-alert-sound");
    notifyBox.checked = on("ep-alert-notify") && "Notification" in window && Notification.permission === "granted";
    soundBox.addEventListener("change", function () { keep("ep-alert-sound", soundBox.checked); });
    notifyBox.addEventListener("change", function () {
      if (!notifyBox.checked) { keep("ep-alert-notify", false); return; }
      if (!("Notification" in window)) { notifyBox.checked = false; return; }
      Notification.requestPermission().then(function (p) {
        notifyBox.checked = p === "granted"; keep("ep-alert-notify", notifyBox.checked);
      });
    });
  }
  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.1;
    osc.connect(gain); gain.connect(ctx.destination);
    osc.start(); osc.stop(ctx.currentTime + 0.25);
  }
  function title() { document.title = count ? "(" + count + ") " + base : base; }
  window.EPAlerting = {
    arrived: function (text) {
      count += 1; title();
      if (soundBox && soundBox.checked) beep();
      if (notifyBox && notifyBox.checked && document.hidden && "Notification" in window &&
          Notification.permission === "granted") {
        new Notification(text, {body: base, tag: "evidence-" + count});
      }
    },
    seen: function (left) { count = Math.max(0, left); title(); }
  };
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && window.EPAlerting.onReturn) window.EPAlerting.onReturn();
  });
})();
