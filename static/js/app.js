/*
 * DataMarket progressive enhancement. Every page works without this file.
 *
 * - <details class="menu">: closes on outside click and on Escape.
 * - Flash messages: the close control removes the message (the no-JS fallback hides it
 *   with a checkbox).
 * - <form data-confirm="Are you sure?">: asks before submitting.
 * - <select data-autosubmit>: submits its form when changed; <form data-no-submit> never
 *   submits (examples). No page has inline script: the Content-Security-Policy forbids it.
 * - Charts: <canvas data-chart="cfg-id"> plus {{ cfg|json_script:"cfg-id" }} is drawn
 *   with Chart.js when the page loads static/vendor/chartjs/chart.umd.min.js.
 *   The JSON is a Chart.js config object ({type, data, options}).
 */
(function () {
  "use strict";

  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }

  function initMenus() {
    document.addEventListener("click", function (event) {
      var inside = event.target.closest ? event.target.closest("details.menu") : null;
      closeMenus(inside);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      var open = document.querySelector("details.menu[open]");
      if (open) {
        open.removeAttribute("open");
        var summary = open.querySelector("summary");
        if (summary) summary.focus();
      }
    });
  }

  function initFlashes() {
    document.querySelectorAll("[data-flash-close]").forEach(function (label) {
      label.addEventListener("click", function (event) {
        var flash = label.closest(".flash");
        if (!flash) return;
        event.preventDefault();
        var toggle = flash.previousElementSibling;
        if (toggle && toggle.classList.contains("flash-toggle")) toggle.remove();
        flash.remove();
      });
    });
  }

  function initConfirms() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var message = form.getAttribute && form.getAttribute("data-confirm");
      if (message && !window.confirm(message)) event.preventDefault();
    });
  }

  function initForms() {
    document.addEventListener("change", function (event) {
      var field = event.target;
      if (field.hasAttribute && field.hasAttribute("data-autosubmit") && field.form) {
        field.form.submit();
      }
    });
    document.addEventListener("submit", function (event) {
      if (event.target.hasAttribute && event.target.hasAttribute("data-no-submit")) {
        event.preventDefault();
      }
    });
  }

  function initCharts() {
    if (typeof window.Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataMarketChart) return;
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) return;
      try {
        var config = JSON.parse(source.textContent);
        config.options = config.options || {};
        if (config.options.maintainAspectRatio === undefined) {
          config.options.maintainAspectRatio = false;
        }
        canvas.dataMarketChart = new window.Chart(canvas, config);
      } catch (error) {
        if (window.console) window.console.error("DataMarket chart", error);
      }
    });
  }

  function init() {
    document.documentElement.classList.add("js");
    initMenus();
    initFlashes();
    initConfirms();
    initForms();
    initCharts();
  }

  window.DataMarket = { initCharts: initCharts };

  // Deferred scripts (this one, Chart.js) all run before DOMContentLoaded, so waiting for it
  // lets a page load Chart.js after app.js.
  if (document.readyState === "complete") {
    init();
  } else {
    document.addEventListener("DOMContentLoaded", init);
  }
})();
