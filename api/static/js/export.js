// The export's progress page: asks how far the package has got every two seconds, shows it, says
// it to a screen reader every quarter, and offers the download once it is made.
(function () {
  "use strict";
  var box = document.getElementById("export");
  if (!box || box.dataset.state !== "running") return;
  var said = document.getElementById("export-said"), lastQuarter = 0;
  function poll() {
    fetch("/app/exports/" + box.dataset.job + "/status",
          {credentials: "same-origin", cache: "no-store", headers: {"X-EP-Refresh": "1"}})  // not activity
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) { setTimeout(poll, 5000); return; }
        document.getElementById("export-progress").value = job.percent;
        document.getElementById("export-percent").textContent = job.percent + " % done";
        document.getElementById("export-step").textContent = job.step;
        var quarter = Math.floor(job.percent / 25);
        if (quarter > lastQuarter && quarter < 4) { lastQuarter = quarter; said.textContent = job.percent + " % done"; }
        if (job.state === "running") { setTimeout(poll, 2000); return; }
        document.getElementById("export-running").hidden = true;
        if (job.state === "done") {
          document.getElementById("export-manifest").textContent = job.manifest_sha256;
          var size = document.getElementById("export-size"); if (size) size.textContent = job.size;
          document.getElementById("export-done").hidden = false;
          document.getElementById("export-done-panel").focus();
        } else {
          document.getElementById("export-error").textContent = job.error;
          document.getElementById("export-failed").hidden = false;
          document.getElementById("export-failed-summary").focus();
        }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
