// Staff upload: several files, one after another, each resumable (tus) through a link of the
// person's own; each file's progress, its fingerprint once received, or why it was not.
(function () {
  "use strict";
  var form = document.getElementById("staff-upload");
  if (!form) return;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var list = document.getElementById("uploads"), said = document.getElementById("uploads-said");
  document.getElementById("send-files").disabled = false;  // ready: the files go through this script

  function row(file) {
    var li = document.createElement("li");
    li.className = "ep-upload";
    li.innerHTML = '<strong></strong> <span class="ep-upload__state">waiting</span> ' +
      '<progress class="ep-progress" max="100" value="0"></progress>';
    li.querySelector("strong").textContent = file.name;
    li.querySelector("progress").setAttribute("aria-label", file.name + " sent");
    list.appendChild(li);
    return li;
  }

  function send(endpoint, file, li) {
    return new Promise(function (done) {
      var state = li.querySelector(".ep-upload__state"), lastTenth = -1;
      var upload = new tus.Upload(file, {
        endpoint: endpoint, chunkSize: 4194304, retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000],
        removeFingerprintOnSuccess: true,
        metadata: {filename: file.name, filetype: file.type, caption: document.getElementById("note").value,
                   recorded_by: document.getElementById("recorded-by").value, device: document.getElementById("device").value},
        onProgress: function (sent, total) {
          var pct = Math.floor(sent / total * 100);
          li.querySelector("progress").value = pct; state.textContent = pct + " % sent";
          if (Math.floor(pct / 25) !== lastTenth) { lastTenth = Math.floor(pct / 25); said.textContent = file.name + " " + pct + " % sent"; }
        },
        onError: function (error) {
          var body = error.originalResponse ? error.originalResponse.getBody() : "", message = "The connection was lost";
          try { message = JSON.parse(body).message || message; } catch (e) { /* not JSON */ }
          state.textContent = "not sent: " + message; li.classList.add("ep-upload--failed");
          li.querySelector("progress").hidden = true;
          said.textContent = file.name + " not sent: " + message; done(false);
        },
        onSuccess: function () {
          state.textContent = "checking";
          fetch(upload.url + "/receipt").then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
            .then(function (res) {
              if (!res[0]) { state.textContent = "not kept: " + (res[1].message || "not a video"); li.classList.add("ep-upload--failed"); }
              else { state.textContent = "received, SHA-256 " + res[1].sha256; li.classList.add("ep-upload--done"); }
              said.textContent = file.name + " " + state.textContent.split(",")[0]; done(res[0]);
            });
        }
      });
      upload.start();
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var files = Array.prototype.slice.call(document.getElementById("files").files);
    var error = document.getElementById("files-error");
    var max = Number(form.dataset.maxBytes), maxFiles = Number(form.dataset.maxFiles);
    var tooBig = files.filter(function (f) { return f.size > max || f.size === 0; });
    var problem = !files.length ? "Choose the video files to add" : files.length > maxFiles ?
      "Choose at most " + maxFiles + " files at once" : tooBig.length ? tooBig[0].name + " is empty or over the most a file may be" : "";
    if (problem) {
      error.textContent = problem; error.hidden = false;
      document.getElementById("files-group").classList.add("govuk-form-group--error");
      document.getElementById("files").focus(); return;
    }
    error.hidden = true;
    document.getElementById("send-files").disabled = true;
    fetch("/app/incidents/" + form.dataset.incident + "/upload-session", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify({files: files.length})})
      .then(function (r) { return r.ok ? r.json().then(function (b) { return [true, b]; }) : [false, {}]; })
      .then(function (res) {
        if (!res[0]) {
          error.textContent = "The upload could not start: reload the page and try again"; error.hidden = false;
          document.getElementById("send-files").disabled = false; return;
        }
        document.getElementById("uploads-title").hidden = false;
        var rows = files.map(row), chain = Promise.resolve();
        files.forEach(function (f, i) { chain = chain.then(function () { return send(res[1].endpoint, f, rows[i]); }); });
        chain.then(function () { document.getElementById("uploads-done").hidden = false; said.textContent = "All files sent"; });
      });
  });
})();
