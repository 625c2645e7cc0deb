// The dashboard's charts: draws every <canvas data-chart="name"> from the figures the page
// carries in <script id="dashboard-charts" type="application/json"> (Django's json_script).
// Each chart's numbers are also in a table beside it, so nothing here is the only way to
// read them. Chart.js is vendored (static/vendor/chart.js-4.6.1); no build step.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-charts");
  if (!source || typeof window.Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  // Distinguishable colours, dark enough against white for lines and bars.
  var palette = ["#0b5cad", "#a1242a", "#1a6b32", "#8a5a00", "#6b3fa0", "#00707a",
                 "#b3385f", "#4a5360"];
  // No animation: the figures are a snapshot, and motion helps nobody read them.
  window.Chart.defaults.animation = false;
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var chart = data[canvas.dataset.chart];
    if (!chart) return;
    var kind = canvas.dataset.kind || "bar";
    var stacked = canvas.dataset.stacked === "true";
    var datasets = Object.keys(chart.series).map(function (name, i) {
      var colour = palette[i % palette.length];
      return {
        label: name, data: chart.series[name], backgroundColor: colour, borderColor: colour,
        borderWidth: kind === "line" ? 2 : 0, pointRadius: kind === "line" ? 2 : 0,
        spanGaps: false
      };
    });
    new window.Chart(canvas, {
      type: kind,
      data: { labels: chart.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  });
})();
