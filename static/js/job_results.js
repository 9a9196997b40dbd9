/* The results page's value histogram (Chart.js), from the #histogram-data JSON. */
(function () {
  var box = document.querySelector("[data-chart-box]");
  if (typeof Chart === "undefined" || !box) { return; }
  var data = JSON.parse(document.getElementById("histogram-data").textContent);
  box.hidden = false;
  document.querySelector("[data-chart-fallback]").hidden = true;
  new Chart(document.getElementById("value-histogram"), {
    type: "bar",
    data: {labels: data.labels, datasets: data.datasets},
    options: {
      responsive: true, maintainAspectRatio: false,
      scales: {x: {title: {display: true, text: "sample value (bin start)"}},
               y: {title: {display: true, text: data.y_title || "samples"}, beginAtZero: true}}
    }
  });
})();
