/* The valuation page's live progress: polls the job's API URL (data-api-url) every 2 s. */
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
    var bar = root.querySelector('[data-field="bar"]');
    bar.style.width = p.percent + "%";
    bar.parentNode.setAttribute("aria-valuenow", p.percent);
    var rows = Object.keys(p.stages).map(function (stage) {
      var c = p.stages[stage];
      return "<tr><td>" + stage.charAt(0).toUpperCase() + stage.slice(1) + "</td><td class=\"num\">" +
        c.done + " / " + c.total + "</td><td class=\"num\">" + c.samples.toLocaleString() + "</td></tr>";
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
