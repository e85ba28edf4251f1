// The reports page: draws each chart with Chart.js (served from /static/vendor) from the
// JSON data block the server put in the page (#report-charts); every chart's values are
// also in the table beside it. Typing a date switches the period to "Custom dates".
(function () {
  "use strict";
  var form = document.getElementById("report-filters");
  if (form) {
    var range = document.getElementById("f-range");
    ["f-from", "f-to"].forEach(function (id) {
      var input = document.getElementById(id);
      if (input && range) {
        input.addEventListener("change", function () { range.value = "custom"; });
      }
    });
  }
  var block = document.getElementById("report-charts");
  if (!block || typeof window.Chart === "undefined") { return; }
  var charts = JSON.parse(block.textContent || "[]");
  var COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2",
                "#db2777", "#65a30d", "#ea580c", "#475569"];

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function show(value, kind) {
    if (value === null || value === undefined) { return "—"; }
    if (kind === "seconds") {
      var s = Math.round(Math.abs(value)), sign = value < 0 ? "-" : "";
      var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      if (h) { return sign + h + " h " + pad(m) + " min"; }
      return m ? sign + m + " min " + pad(sec) + " s" : sign + sec + " s";
    }
    if (kind === "money") {
      return Number(value).toLocaleString(undefined, {minimumFractionDigits: 2,
                                                       maximumFractionDigits: 2});
    }
    if (kind === "percent") { return (value * 100).toFixed(1) + "%"; }
    return Number(value).toLocaleString();
  }

  charts.forEach(function (c) {
    var canvas = document.getElementById(c.id);
    if (!canvas) { return; }
    var round = c.kind === "doughnut";
    var type = round ? "doughnut" : (c.kind === "line" ? "line" : "bar");
    var datasets = c.series.map(function (s, i) {
      var color = COLORS[i % COLORS.length];
      return {label: s.label, data: s.data, kind: s.kind,
              backgroundColor: round ? c.labels.map(function (_, j) {
                return COLORS[j % COLORS.length]; }) : color,
              borderColor: round ? "#fff" : color, fill: false, tension: 0.2};
    });
    var options = {
      responsive: true, maintainAspectRatio: false, animation: false,
      indexAxis: c.kind === "funnel" ? "y" : "x",
      plugins: {
        legend: {display: true, position: "bottom"},
        tooltip: {callbacks: {label: function (ctx) {
          var kind = ctx.dataset.kind;
          var value = ctx.raw;
          return (ctx.dataset.label ? ctx.dataset.label + ": " : "") + show(value, kind);
        }}}
      }
    };
    if (!round) {
      var stacked = c.kind === "stacked";
      var valueKind = c.series.length ? c.series[0].kind : "int";
      var valueAxis = {beginAtZero: true, stacked: stacked,
                       ticks: {callback: function (v) { return show(v, valueKind); }}};
      var labelAxis = {stacked: stacked};
      options.scales = c.kind === "funnel" ? {x: valueAxis, y: labelAxis}
                                          : {x: labelAxis, y: valueAxis};
    }
    new window.Chart(canvas, {type: type, data: {labels: c.labels, datasets: datasets},
                              options: options});
  });
})();
