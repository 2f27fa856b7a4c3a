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

  // What the file's first bytes say it is: a video container, a photo or document (refused here,
  // before anything is sent: a photo renamed .mp4 is still a photo), or unknown (the server decides).
  function kindOf(b) {
    function at(i, s) { for (var k = 0; k < s.length; k++) if (b[i + k] !== s.charCodeAt(k)) return false; return true; }
    if (b.length >= 12 && at(4, "ftyp")) return "video";                                  // MP4, MOV, 3GP
    if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "video";  // WebM, Matroska
    if (at(0, "RIFF") && at(8, "AVI ")) return "video";
    if (b[0] === 0x47 || (b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0xba) || at(0, "FLV")) return "video";
    if (b[0] === 0x30 && b[1] === 0x26 && b[2] === 0xb2 && b[3] === 0x75) return "video";  // ASF, WMV
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "a photo (JPEG)";
    if (at(1, "PNG")) return "a picture (PNG)";
    if (at(0, "GIF8")) return "a picture (GIF)";
    if (at(4, "ftypheic") || at(4, "ftypheix")) return "a photo (HEIC)";
    if (at(0, "%PDF")) return "a document (PDF)";
    if (at(0, "PK")) return "a zip file";
    return "unknown";
  }

  var progressSaid = document.getElementById("progress-said");
  var signal = document.getElementById("signal");
  var upload = null, lastTenth = -1, waitingForSignal = false;

  function sayProgress(pct) {  // a screen reader hears every 10 %, not every piece
    var tenth = Math.floor(pct / 10);
    if (tenth !== lastTenth) { lastTenth = tenth; progressSaid.textContent = tenth * 10 + " % sent"; }
  }
  function signalNote(text) {
    signal.hidden = !text; signal.textContent = text || "";
    if (text) progressSaid.textContent = text;
  }

  // No signal: stop asking, and carry on from where it stopped as soon as the phone is back online.
  window.addEventListener("offline", function () {
    if (upload && document.getElementById("sending").hidden === false) {
      signalNote("No signal. Keep this page open: we carry on when the signal comes back.");
    }
  });
  window.addEventListener("online", function () {
    if (!upload || !waitingForSignal) { if (upload) signalNote("Signal back: carrying on."); return; }
    waitingForSignal = false; signalNote("Signal back: carrying on."); show("sending"); upload.start();
  });
  document.getElementById("retry").addEventListener("click", function () {
    if (!upload) return;
    show("sending"); signalNote("Trying again from where it stopped."); upload.start();
  });

  function send(file, updatesEmail) {
    show("sending");
    upload = new tus.Upload(file, {
      endpoint: form.dataset.endpoint,
      chunkSize: 1048576,
      retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000, 60000],
      removeFingerprintOnSuccess: true,
      metadata: {filename: file.name, filetype: file.type, updates_email: updatesEmail,
                 caption: document.getElementById("caption").value, contact: document.getElementById("contact").value},
      onShouldRetry: function (err) {
        var status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        if (status >= 400 && status < 500 && status !== 409 && status !== 423) return false;  // refused: say why
        if (!navigator.onLine) return false;  // wait for the signal instead (onError)
        signalNote("Reconnecting… the connection dropped; we carry on from " +
                   document.getElementById("progress").value + " %.");
        return true;
      },
      onProgress: function (sent, total) {
        var pct = Math.floor(sent / total * 100);
        document.getElementById("progress").value = pct;
        document.getElementById("progress-text").textContent = pct + " % sent";
        if (!signal.hidden && navigator.onLine) signalNote("");
        sayProgress(pct);
      },
      onError: function (error) {
        var status = error.originalResponse ? error.originalResponse.getStatus() : 0;
        if (!navigator.onLine && !(status >= 400 && status < 500)) {
          waitingForSignal = true;
          signalNote("No signal. Keep this page open: we carry on when the signal comes back.");
          return;
        }
        var body = error.originalResponse ? error.originalResponse.getBody() : "";
        var message = "We could not reach the police's server. Check your signal, then try again: " +
                      "we carry on from where it stopped.";
        try { message = JSON.parse(body).message || message; } catch (e) { /* not JSON */ }
        document.getElementById("retry").hidden = status >= 400 && status < 500 && status !== 409 && status !== 423;
        fail(message, false);
      },
      onSuccess: function () {
        signalNote("");
        document.getElementById("progress-text").textContent = "Checking your video";
        progressSaid.textContent = "Sent. Checking your video";
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
  }

  document.getElementById("submit").disabled = false;  // the video goes only through this script (resumable)
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = document.getElementById("video").files[0] || document.getElementById("record").files[0];
    if (!file) { fail("Choose a video to send", true); return; }
    if (file.size === 0) { fail("This file is empty. Choose the video again.", true); return; }
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
    file.slice(0, 16).arrayBuffer().then(function (head) {
      var kind = kindOf(new Uint8Array(head));
      if (kind !== "video" && kind !== "unknown") {
        fail("This file is " + kind + ", not a video. Choose the video you recorded.", true);
        return;
      }
      send(file, updatesEmail);
    });
  });
})();
