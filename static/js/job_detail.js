/* The valuation page's live progress: polls the job's API URL (data-api-url) every 2 s and
   keeps the header badge, the figures and the stage table in step with it. */
(function () {
  var root = document.getElementById("job-progress");
  var url = root && root.getAttribute("data-api-url");
  if (!url || root.getAttribute("data-active") !== "1") { return; }
  function set(name, value) {
    var node = root.querySelector('[data-field="' + name + '"]');
    if (node) { node.textContent = value; }
  }
  function render(data) {
    var p = data.progress;
    set("stage_label", p.stage_label); set("status_label", p.status_label);
    set("done", p.done); set("total", p.total); set("percent", p.percent);
    set("eta_text", p.finished ? "—" : p.eta_text); set("elapsed_text", p.elapsed_text || "—");
    if (data.pool_size) {
      set("pool_size", data.pool_size.toLocaleString("en-US"));
      set("n_labelled", data.n_labelled.toLocaleString("en-US"));
      set("n_labels_cached", (data.n_labels_cached || 0).toLocaleString("en-US"));
    }
    var badge = document.querySelector("[data-job-status]");
    if (badge && badge.getAttribute("data-job-status") !== p.status) {
      badge.setAttribute("data-job-status", p.status);
      badge.textContent = p.status_label;
      badge.className = "badge badge-dot " + ({succeeded: "badge-success", failed: "badge-danger",
        cancelled: "badge-warning", running: "badge-primary"}[p.status] || "badge-info");
    }
    var bar = root.querySelector('[data-field="bar"]');
    bar.style.width = p.percent + "%";
    bar.parentNode.setAttribute("aria-valuenow", p.percent);
    var rows = Object.keys(p.stages).map(function (stage) {
      var c = p.stages[stage];
      return "<tr><td>" + stage.charAt(0).toUpperCase() + stage.slice(1) + "</td><td class=\"num\">" +
        c.done + " / " + c.total + "</td><td class=\"num\">" +
        (stage === "plan" ? "—" : c.samples.toLocaleString("en-US")) + "</td></tr>";
    });
    root.querySelector('[data-field="stages"]').innerHTML = rows.join("");
    return p.finished;
  }
  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && render(data)) {
          root.querySelector("[data-finished-notice]").hidden = false;
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
})();
