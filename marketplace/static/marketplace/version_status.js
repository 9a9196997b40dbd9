/*
 * Live progress for a version being validated or ingested. Without JavaScript the page
 * refreshes itself (<meta http-equiv="refresh">); with it, this polls the JSON API every
 * second, moves the bar, and reloads the page once the version leaves processing.
 */
(function () {
  "use strict";
  var root = document.querySelector("[data-version-status]");
  if (!root || !window.fetch) return;
  var url = root.getAttribute("data-version-status");
  var meta = document.querySelector('meta[http-equiv="refresh"]');
  if (meta) meta.parentNode.removeChild(meta);
  var busy = ["staged", "validating", "ingesting"];
  var bar = root.querySelector(".progress-bar");
  var label = root.querySelector("[data-progress-label]");
  var track = root.querySelector("[role=progressbar]");

  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (busy.indexOf(data.status) === -1) { window.location.reload(); return; }
        var percent = data.progress.percent || 0;
        if (bar) bar.style.width = percent + "%";
        if (track) track.setAttribute("aria-valuenow", percent);
        if (label) label.textContent = (data.progress.phase || data.status) + " · " + percent + "%";
        window.setTimeout(tick, 1000);
      })
      .catch(function () { window.setTimeout(tick, 3000); });
  }
  window.setTimeout(tick, 1000);
})();
