// The working copy from the given moment, with the face or plate box drawn: for a face track, while
// it is in view (its box moved between where it was first, best and last seen); otherwise near the
// moment. The box is in the original's upright pixels; the working copy may be smaller. Frame
// steps, and a 2x zoom on the picture.
(function () {
  "use strict";
  var holder = document.getElementById("player");
  if (!holder) return;
  var video = document.getElementById("video");
  var canvas = document.getElementById("overlay");
  var t = Number(holder.dataset.t || 0);
  var box = (holder.dataset.box || "").split(",").map(Number);
  var path = JSON.parse(holder.dataset.path || "[]");  // [[t, x1, y1, x2, y2], ...] in time order
  var fps = Number(holder.dataset.fps || 25);
  var sourceW = Number(holder.dataset.sourceW || 0);

  function at(now) {  // the box at ``now``: the track's, between its key boxes; or the moment's
    if (path.length) {
      if (now < path[0][0] - 0.2 || now > path[path.length - 1][0] + 0.2) return null;
      for (var i = 1; i < path.length; i++) {
        var a = path[i - 1], b = path[i];
        if (now <= b[0]) {
          var f = b[0] > a[0] ? Math.max(0, Math.min(1, (now - a[0]) / (b[0] - a[0]))) : 0;
          return [1, 2, 3, 4].map(function (k) { return a[k] + (b[k] - a[k]) * f; });
        }
      }
      return path[path.length - 1].slice(1);
    }
    return box.length === 4 && Math.abs(now - t) <= 1.5 ? box : null;
  }
  function draw() {
    canvas.width = video.clientWidth; canvas.height = video.clientHeight;
    var ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    var shown = document.getElementById("player-time");
    if (shown) shown.textContent = video.currentTime.toFixed(2) + " s";
    var b = at(video.currentTime);
    if (!b || !sourceW) return;
    var k = canvas.width / sourceW;
    ctx.lineWidth = 3; ctx.strokeStyle = "#ffdd00";
    ctx.strokeRect(b[0] * k, b[1] * k, (b[2] - b[0]) * k, (b[3] - b[1]) * k);
  }
  function step(frames) { video.pause(); video.currentTime = Math.max(0, video.currentTime + frames / fps); }
  document.getElementById("frame-back").addEventListener("click", function () { step(-1); });
  document.getElementById("frame-next").addEventListener("click", function () { step(1); });
  document.getElementById("zoom").addEventListener("click", function (ev) {
    var on = document.getElementById("frame").classList.toggle("ep-player-frame--zoomed");
    ev.currentTarget.setAttribute("aria-pressed", on ? "true" : "false");
    ev.currentTarget.textContent = on ? "Zoom back" : "Zoom 2×";
    draw();
  });
  ["frame-back", "frame-next", "zoom"].forEach(function (id) { document.getElementById(id).disabled = false; });  // listening now
  function toTheMoment() { video.currentTime = t; draw(); }
  // The script is deferred: on a loaded machine (or from the cache) the video may already know its
  // length before this runs, and the moment would never be sought.
  video.addEventListener("loadedmetadata", toTheMoment);
  if (video.readyState >= 1) toTheMoment();
  video.addEventListener("seeked", draw);
  video.addEventListener("timeupdate", draw);
  window.addEventListener("resize", draw);
})();
