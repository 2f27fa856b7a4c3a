// The witness's upload: resumable (the tus protocol, tus-js-client), so a dropped signal costs only
// the bytes in flight; a file over the link's cap is refused before anything is sent.
(function () {
  "use strict";
  var form = document.getElementById("send");
  if (!form) return;
  var maxBytes = Number(form.dataset.maxBytes);
  function size(bytes) {
    if (bytes >= 1073741824) return (bytes / 1073741824).toFixed(1) + " GB";
    if (bytes >= 1048576) return Math.floor(bytes / 1048576) + " MB";
    return Math.floor(bytes / 1024) + " kB";
  }
  var show = function (id) { ["choose", "sending", "failed", "done"].forEach(function (x) {
    document.getElementById(x).hidden = x !== id && !(id === "failed" && x === "choose"); }); };

  function fail(message, field) {
    if (field) {
      var err = document.getElementById("video-error");
      err.textContent = message; err.hidden = false;
      document.getElementById("file-group").classList.add("govuk-form-group--error");
      document.getElementById("video").focus();
      return;
    }
    document.getElementById("failed-text").textContent = message;
    show("failed");
    document.querySelector("#failed .govuk-error-summary").focus();
  }

  function receipt(url) {
    return fetch(url + "/receipt").then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = document.getElementById("video").files[0] || document.getElementById("record").files[0];
    if (!file) { fail("Choose a video to send", true); return; }
    if (file.size > maxBytes) {
      fail("This video is " + size(file.size) + "; the most this link takes is " + size(maxBytes) +
           ". Send a shorter video, or call 101 and ask how to send it.", true);
      return;
    }
    var updatesEmail = document.getElementById("updates-email").value.trim();
    if (updatesEmail && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(updatesEmail)) {
      var err = document.getElementById("updates-error");
      err.textContent = "Enter an email address like name@example.com, or leave it empty"; err.hidden = false;
      document.getElementById("updates-group").classList.add("govuk-form-group--error");
      document.getElementById("updates-email").focus();
      return;
    }
    show("sending");
    var upload = new tus.Upload(file, {
      endpoint: form.dataset.endpoint,
      chunkSize: 1048576,
      retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000, 60000],
      removeFingerprintOnSuccess: true,
      metadata: {filename: file.name, filetype: file.type, updates_email: updatesEmail,
                 caption: document.getElementById("caption").value, contact: document.getElementById("contact").value},
      onProgress: function (sent, total) {
        var pct = Math.floor(sent / total * 100);
        document.getElementById("progress").value = pct;
        document.getElementById("progress-text").textContent = pct + " % sent";
      },
      onError: function (error) {
        var body = error.originalResponse ? error.originalResponse.getBody() : "";
        var message = "The connection was lost too many times. Keep this page open and try again.";
        try { message = JSON.parse(body).message || message; } catch (e) { /* not JSON */ }
        fail(message, false);
      },
      onSuccess: function () {
        document.getElementById("progress-text").textContent = "Checking your video";
        receipt(upload.url).then(function (res) {
          if (!res[0]) { fail(res[1].message || "We could not read this video.", false); return; }
          document.getElementById("receipt-reference").textContent = res[1].reference;
          document.getElementById("receipt-time").textContent = new Date(res[1].received_at).toLocaleString("en-GB");
          document.getElementById("receipt-name").textContent = res[1].name;
          document.getElementById("receipt-sha256").textContent = res[1].sha256;
          if (res[1].status_url) {
            document.getElementById("status-link").href = res[1].status_url;
            document.getElementById("status-link-para").hidden = false;
          }
          show("done");
          document.getElementById("done-panel").focus();
        });
      }
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  });
})();
