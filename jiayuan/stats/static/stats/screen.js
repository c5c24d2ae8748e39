/* 指挥中心大屏: fetches the screen's JSON every 30 seconds and updates the numbers, the ladder,
 * the charts and the map in place (no reload), so it can stay on a wall all day. */
(function () {
  "use strict";

  var STEPS = ["#1b3a66", "#2d5f9e", "#e0a43a", "#ea6a3d", "#ff3b30"];
  var RATES = [
    ["resolution_rate", "办结率"], ["on_time_rate", "按期办结率"], ["satisfaction_rate", "满意率"],
    ["solved_rate", "化解率"], ["grid_share", "小事不出网格"], ["community_share", "大事不出社区"],
  ];

  function $(id) { return document.getElementById(id); }
  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }
  function text(id, v) { var el = $(id); if (el) el.textContent = String(v); }

  function init() {
    var wall = $("wall");
    if (!wall) return;
    var every = (parseInt(wall.dataset.refresh, 10) || 30) * 1000;
    var daily = window.echarts ? window.echarts.init($("screen-daily"), "dark") : null;
    var cats = window.echarts ? window.echarts.init($("screen-categories"), "dark") : null;
    window.addEventListener("resize", function () { if (daily) daily.resize(); if (cats) cats.resize(); });
    var map = window.L ? L.map("screen-map", { attributionControl: false, zoomControl: false, zoomSnap: 0.25 }) : null;
    if (map) map.setView([37.54, 121.4], 9);
    var shapes = null;
    var spots = null;
    var children = {};

    function tick() {
      var now = new Date();
      text("clock", now.toLocaleDateString("zh-CN") + " " + now.toLocaleTimeString("zh-CN", { hour12: false }));
    }
    setInterval(tick, 1000);
    tick();

    function colour(id) {
      var c = children[id];
      if (!c || c.overdue_rate === null) return STEPS[0];
      var r = c.overdue_rate;
      return r >= 0.2 ? STEPS[4] : r >= 0.1 ? STEPS[3] : r >= 0.05 ? STEPS[2] : r > 0 ? STEPS[1] : STEPS[0];
    }

    function loadShapes() {
      if (!map) return;
      fetch(wall.dataset.geojsonUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (geo) {
          if (!geo) return;
          shapes = L.geoJSON(geo, {
            style: function (f) { return { color: "#5ec3ff", weight: 1, fillOpacity: 0.7, fillColor: colour(String(f.properties.id)) }; },
            pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 8 }); },
            onEachFeature: function (f, lyr) {
              lyr.bindTooltip(function () {
                var c = children[String(f.properties.id)] || {};
                return f.properties.name + "<br>受理 " + (c.received || 0) + " · 超期率 " + pct(c.overdue_rate);
              });
            },
          }).addTo(map);
          if (geo.features.length) map.fitBounds(shapes.getBounds(), { padding: [10, 10], animate: false });
          $("screen-map").dataset.loaded = String(geo.features.length);
        });
    }

    function loadHotSpots() {
      if (!map || !wall.dataset.hotspotsUrl) return;
      fetch(wall.dataset.hotspotsUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (geo) {
          if (!geo) return;
          if (spots) map.removeLayer(spots);
          spots = L.geoJSON(geo, {
            pointToLayer: function (f, latlng) {
              var n = f.properties.count || 0;
              return L.circleMarker(latlng, { radius: Math.min(6 + n, 20), color: "#ff3b30", weight: 2, fillColor: "#ff6b5e", fillOpacity: 0.6, className: "hotspot" });
            },
            onEachFeature: function (f, lyr) {
              var p = f.properties;
              lyr.bindTooltip("高发预警：" + p.place + "<br>" + p.category + " " + p.count + " 件");
            },
          }).addTo(map);
          $("screen-map").dataset.hotspots = String(geo.features.length);
        })
        .catch(function () { /* the wall works without the hot-spot layer */ });
    }

    function render(d) {
      text("today-received", d.today.received);
      text("today-resolved", d.today.resolved);
      text("open-now", d.open);
      text("overdue-now", d.overdue > 1000 ? "1000+" : d.overdue);
      text("supervised-now", d.supervised > 1000 ? "1000+" : d.supervised);
      var max = 1;
      d.ladder.forEach(function (l) { max = Math.max(max, l.open); });
      $("ladder").innerHTML = d.ladder.map(function (l) {
        return '<li data-level="' + l.level + '"><span>' + l.label + '</span><div class="bar" style="width:' +
          Math.round((l.open / max) * 100) + '%"></div><b>' + l.open + "</b></li>";
      }).join("");
      $("rates").innerHTML = RATES.map(function (r) {
        return "<div><span>" + r[1] + "</span><b>" + pct(d.measures[r[0]]) + "</b></div>";
      }).join("");
      if (daily) {
        daily.setOption({
          backgroundColor: "transparent", animation: false,
          grid: { left: 40, right: 10, top: 10, bottom: 24 },
          tooltip: { trigger: "axis" },
          xAxis: { type: "category", data: d.daily.map(function (p) { return p.day.slice(5); }) },
          yAxis: { type: "value", minInterval: 1 },
          series: [{ type: "line", smooth: true, areaStyle: { opacity: 0.25 }, data: d.daily.map(function (p) { return p.received; }), itemStyle: { color: "#5ec3ff" } }],
        });
      }
      if (cats) {
        cats.setOption({
          backgroundColor: "transparent", animation: false,
          grid: { left: 90, right: 30, top: 4, bottom: 4 },
          xAxis: { type: "value", show: false },
          yAxis: { type: "category", inverse: true, data: d.top_categories.map(function (c) { return c.name; }) },
          series: [{ type: "bar", data: d.top_categories.map(function (c) { return c.count; }), itemStyle: { color: "#e0a43a" }, label: { show: true, position: "right" } }],
        });
      }
      children = {};
      d.children.forEach(function (c) { children[String(c.id)] = c; });
      if (shapes) shapes.setStyle(function (f) { return { fillColor: colour(String(f.properties.id)) }; });
      var live = $("live");
      live.textContent = "实时 · 更新于 " + d.now.slice(11) + " · 每 30 秒刷新";
      live.className = "live";
      wall.dataset.updated = d.now;
      wall.dataset.refreshes = String((parseInt(wall.dataset.refreshes || "0", 10) || 0) + 1);
    }

    function refresh() {
      fetch(wall.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(render)
        .catch(function () {
          var live = $("live");
          live.textContent = "连接中断，稍后重试";
          live.className = "live stale";
        });
    }

    loadShapes();
    loadHotSpots();
    refresh();
    setInterval(refresh, every);
    setInterval(loadHotSpots, every * 10);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
