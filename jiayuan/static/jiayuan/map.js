/* 网格图: draws the grids in the user's scope with Leaflet, without any tile layer (government
 * intranets have no internet). Click a grid to load its card (htmx fragment); click a community
 * or street to go one level down. */
(function () {
  "use strict";

  var GRID_LEVELS = { grid: true, micro_grid: true };
  var KIND_COLOURS = {
    enterprise: "#7b4bb7",
    market: "#d9822b",
    school: "#2b8a9a",
    hospital: "#c0395e",
    park: "#5f8f2f",
  };
  var LEVEL_COLOURS = { district: "#5b6b82", street: "#3f6fb5", community: "#2f7d6d" };
  // Households per grid (the seeds' standard is 200–400): lighter = fewer.
  var HOUSEHOLD_STEPS = [
    [0, "#dbe7f5", "未登记"],
    [1, "#b4cdea", "1–199 户"],
    [200, "#7fa8d8", "200–299 户"],
    [300, "#4a7fc1", "300–399 户"],
    [400, "#1f4f96", "400 户以上"],
  ];
  var KIND_LABELS = {
    enterprise: "专属网格·企业",
    market: "专属网格·商圈市场",
    school: "专属网格·学校",
    hospital: "专属网格·医院",
    park: "专属网格·园区",
  };

  function householdColour(n) {
    var colour = HOUSEHOLD_STEPS[0][1];
    for (var i = 0; i < HOUSEHOLD_STEPS.length; i++) {
      if (n >= HOUSEHOLD_STEPS[i][0]) colour = HOUSEHOLD_STEPS[i][1];
    }
    return colour;
  }

  function fillFor(p) {
    if (KIND_COLOURS[p.kind]) return KIND_COLOURS[p.kind];
    if (GRID_LEVELS[p.level]) return householdColour(p.household_count || 0);
    return LEVEL_COLOURS[p.level] || "#6b7785";
  }

  function styleFor(feature, selected) {
    var p = feature.properties;
    return {
      color: selected ? "#c8161d" : "#ffffff",
      weight: selected ? 3 : 1.2,
      fillColor: fillFor(p),
      fillOpacity: GRID_LEVELS[p.level] ? 0.72 : 0.45,
      className: "grid-shape grid-" + p.id + " level-" + p.level,
    };
  }

  function init() {
    var el = document.getElementById("map");
    if (!el || !window.L) return;
    var statusEl = document.getElementById("map-status");
    var whereEl = document.getElementById("map-where");
    var upBtn = document.getElementById("map-up");
    var cardEl = document.getElementById("grid-card");
    var geojsonUrl = el.dataset.geojsonUrl;
    var cardUrl = function (id) {
      return el.dataset.cardUrl.replace(/\/0\/card\/$/, "/" + id + "/card/");
    };

    var map = L.map(el, { zoomSnap: 0.25, attributionControl: false, minZoom: 3, maxZoom: 19 });
    map.setView([37.54, 121.4], 12);
    var layer = null;
    var selected = null;
    var stack = [];
    var byId = {};

    var legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var div = L.DomUtil.create("details", "legend");
      if (window.innerWidth >= 640) div.open = true;
      var html = "<summary>图例</summary><b>户数（综合网格）</b><br>";
      HOUSEHOLD_STEPS.forEach(function (s) {
        html += '<i style="background:' + s[1] + '"></i>' + s[2] + "<br>";
      });
      html += "<b>专属网格</b><br>";
      Object.keys(KIND_COLOURS).forEach(function (k) {
        html += '<i style="background:' + KIND_COLOURS[k] + '"></i>' + KIND_LABELS[k] + "<br>";
      });
      div.innerHTML = html;
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    legend.addTo(map);
    L.control.scale({ imperial: false }).addTo(map);

    function setStatus(text) {
      if (statusEl) statusEl.textContent = text;
    }

    function select(id) {
      if (selected && byId[selected]) byId[selected].setStyle(styleFor(byId[selected].feature, false));
      selected = id;
      if (byId[id]) {
        byId[id].setStyle(styleFor(byId[id].feature, true));
        if (byId[id].bringToFront) byId[id].bringToFront();
      }
    }

    function openCard(id) {
      select(id);
      if (window.htmx) {
        window.htmx.ajax("GET", cardUrl(id), { target: "#grid-card", swap: "innerHTML" });
      } else {
        window.location.href = cardUrl(id);
      }
      if (window.innerWidth < 860 && cardEl) cardEl.scrollIntoView({ behavior: "smooth" });
    }

    function load(parentId, then) {
      setStatus("正在加载网格…");
      var url = geojsonUrl + (parentId ? "?parent=" + encodeURIComponent(parentId) : "");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error(r.status === 404 ? "该区域不存在或不在您的管辖范围内" : "加载失败（" + r.status + "）");
          return r.json();
        })
        .then(function (data) {
          if (layer) map.removeLayer(layer);
          byId = {};
          selected = null;
          var many = data.features.length > 80;
          layer = L.geoJSON(data, {
            style: function (f) { return styleFor(f, false); },
            pointToLayer: function (f, latlng) {
              return L.circleMarker(latlng, { radius: 7 });
            },
            onEachFeature: function (f, lyr) {
              var p = f.properties;
              byId[p.id] = lyr;
              lyr.bindTooltip(p.name, {
                permanent: !many, direction: "center", className: many ? "" : "grid-label",
              });
              lyr.on("click", function () {
                if (GRID_LEVELS[p.level]) {
                  openCard(p.id);
                } else {
                  stack.push(parentId || "");
                  load(String(p.id));
                }
              });
            },
          }).addTo(map);
          if (data.features.length) {
            map.fitBounds(layer.getBounds(), { padding: [16, 16], animate: false });
          }
          var parent = data.properties && data.properties.parent;
          if (whereEl) whereEl.textContent = parent ? parent.name : "我的管辖范围";
          if (upBtn) upBtn.hidden = stack.length === 0;
          var n = data.features.length;
          setStatus(
            n ? "共 " + n + " 个区域" + (data.properties.truncated ? "（数量过多，仅显示部分）" : "")
              : "您的管辖范围内没有可显示的网格边界"
          );
          el.dataset.loaded = String(n);
          if (then) then();
        })
        .catch(function (err) { setStatus(err.message); });
    }

    // 高发预警: hot spots of the last 30 days, drawn above the grids, switchable.
    function loadHotSpots() {
      var url = el.dataset.hotspotsUrl;
      if (!url) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || !data.features.length) return;
          var pane = map.createPane("hotspots");
          pane.style.zIndex = 650;
          var spots = L.geoJSON(data, {
            pane: "hotspots",
            pointToLayer: function (f, latlng) {
              var n = f.properties.count || 0;
              return L.circleMarker(latlng, {
                pane: "hotspots", radius: Math.min(8 + n, 22), color: "#c8161d", weight: 2,
                fillColor: "#f04a3e", fillOpacity: 0.55, className: "hotspot",
              });
            },
            onEachFeature: function (f, lyr) {
              var p = f.properties;
              lyr.bindTooltip(
                "高发预警：" + p.place + "（" + p.kind + "）<br>" + p.category + " " + p.count +
                  " 件 · " + p.since + " 起 " + p.days + " 天内"
              );
            },
          }).addTo(map);
          L.control.layers(null, { "高发预警": spots }, { collapsed: false }).addTo(map);
          el.dataset.hotspots = String(data.features.length);
        })
        .catch(function () { /* the grid map works without its hot-spot layer */ });
    }
    loadHotSpots();

    if (upBtn) {
      upBtn.addEventListener("click", function () {
        var prev = stack.pop();
        load(prev || null);
      });
    }

    var initialParent = el.dataset.parent || null;
    var initialGrid = el.dataset.grid || null;
    load(initialParent, function () {
      if (initialGrid) openCard(initialGrid);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
