// The working copy from the given moment, with the face or plate box drawn while that moment is on
// screen. The box is in the original's upright pixels; the working copy may be smaller.
(function () {
  "use strict";
  var holder = document.getElementById("player");
  if (!holder) return;
  var video = document.getElementById("video");
  var canvas = document.getElementById("overlay");
  var t = Number(holder.dataset.t || 0);
  var box = (holder.dataset.box || "").split(",").map(Number);
  var sourceW = Number(holder.dataset.sourceW || 0);
  function draw() {
    canvas.width = video.clientWidth; canvas.height = video.clientHeight;
    var ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (box.length !== 4 || !sourceW || Math.abs(video.currentTime - t) > 1.5) return;
    var k = canvas.width / sourceW;
    ctx.lineWidth = 3; ctx.strokeStyle = "#ffdd00";
    ctx.strokeRect(box[0] * k, box[1] * k, (box[2] - box[0]) * k, (box[3] - box[1]) * k);
  }
  video.addEventListener("loadedmetadata", function () { video.currentTime = t; draw(); });
  video.addEventListener("seeked", draw);
  video.addEventListener("timeupdate", draw);
  window.addEventListener("resize", draw);
})();
