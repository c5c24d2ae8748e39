/* 数据看板: draws the trend and category charts (ECharts) and the map of the child nodes
 * (Leaflet, no tile layer), coloured by 受理量 or 超期率; a click on a node opens its own
 * dashboard with the same filters (drill-down from the city to a grid). */
(function () {
  "use strict";

  var RED = "#c8161d";
  var BLUE = "#3f6fb5";
  var STEPS = ["#fde0dc", "#f9b4ab", "#f3877a", "#e35a4c", "#c8161d", "#8e0f14"];

  function data() {
    var el = document.getElementById("stats-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) return null;
    var c = window.echarts.init(el, null, { renderer: "canvas" });
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
    el.dataset.ready = "1";
    return c;
  }

  function drawCharts(d) {
    var s = d.series;
    chart("chart-series", {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { data: ["受理量", "办结量", "办结率", "满意率"], top: 0 },
      grid: { left: 48, right: 48, top: 36, bottom: 32 },
      xAxis: { type: "category", data: s.labels },
      yAxis: [
        { type: "value", name: "件", minInterval: 1 },
        { type: "value", name: "%", min: 0, max: 100, splitLine: { show: false } },
      ],
      series: [
        { name: "受理量", type: "bar", data: s.received, itemStyle: { color: BLUE } },
        { name: "办结量", type: "bar", data: s.resolved, itemStyle: { color: "#7fa8d8" } },
        { name: "办结率", type: "line", yAxisIndex: 1, data: s.resolution_rate, itemStyle: { color: RED } },
        { name: "满意率", type: "line", yAxisIndex: 1, data: s.satisfaction_rate, itemStyle: { color: "#d9822b" } },
      ],
    });
    if (d.first_level) {
      chart("chart-first-level", {
        animation: false,
        tooltip: { trigger: "item", formatter: "{b}：{c} 件（{d}%）" },
        series: [{ type: "pie", radius: ["35%", "68%"], data: d.first_level, label: { formatter: "{b}\n{d}%" } }],
      });
    }
  }

  function fmtRate(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }

  function drawMap(d) {
    var el = document.getElementById("stats-map");
    if (!el || !window.L || !d.map) return;
    var statusEl = document.getElementById("map-status");
    var metricEl = document.getElementById("map-metric");
    var values = d.map;
    var map = L.map(el, { zoomSnap: 0.25, attributionControl: false, minZoom: 3, maxZoom: 19 });
    map.setView([37.54, 121.4], 10);
    var layer = null;

    function metric() { return metricEl ? metricEl.value : "received"; }

    function colour(id) {
      var v = values[id];
      if (!v) return "#dbe7f5";
      var m = metric();
      var x = v[m];
      if (x === null || x === undefined || (m === "received" && !x)) return "#eef1f5";
      var max = 0;
      Object.keys(values).forEach(function (k) { max = Math.max(max, values[k][m] || 0); });
      var i = max ? Math.min(STEPS.length - 1, Math.floor((x / max) * (STEPS.length - 1) + 0.0001)) : 0;
      return STEPS[i];
    }

    function style(f) {
      return {
        color: "#ffffff", weight: 1.2, fillOpacity: 0.78, fillColor: colour(String(f.properties.id)),
        className: "stats-shape region-" + f.properties.id,
      };
    }

    function drill(id) {
      var url = el.dataset.drillUrl.replace(/\/0\/$/, "/" + id + "/");
      var qs = el.dataset.querystring;
      window.location.href = url + (qs ? "?" + qs : "");
    }

    fetch(el.dataset.geojsonUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("地图加载失败（" + r.status + "）"); return r.json(); })
      .then(function (geo) {
        layer = L.geoJSON(geo, {
          style: style,
          pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 8 }); },
          onEachFeature: function (f, lyr) {
            var id = String(f.properties.id);
            var v = values[id] || { received: 0, overdue: 0, overdue_rate: null, resolution_rate: null };
            lyr.bindTooltip(
              "<b>" + f.properties.name + "</b><br>受理 " + v.received + " 件 · 办结率 " +
                fmtRate(v.resolution_rate) + "<br>超期 " + v.overdue + " 件（" + fmtRate(v.overdue_rate) + "）",
              { sticky: true }
            );
            lyr.on("click", function () { drill(id); });
          },
        }).addTo(map);
        if (geo.features.length) map.fitBounds(layer.getBounds(), { padding: [12, 12], animate: false });
        if (statusEl) statusEl.textContent = geo.features.length ? "共 " + geo.features.length + " 个区域，点击进入" : "下级区域没有边界数据";
        el.dataset.loaded = String(geo.features.length);
      })
      .catch(function (err) { if (statusEl) statusEl.textContent = err.message; });

    if (metricEl) {
      metricEl.addEventListener("change", function () { if (layer) layer.setStyle(style); });
    }
  }

  function init() {
    var d = data();
    if (!d) return;
    drawCharts(d);
    drawMap(d);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
