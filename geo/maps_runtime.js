// The coverage map's runtime (geo.maps): decodes the compact layers, styles them and gives them
// bilingual tooltips. Reads EP_CONFIG (colours, labels, language), written just before it by geo.maps.
// Both languages are in the page; the switch only flips ep-lang-zh / ep-lang-en on <html>.
(function () {
  "use strict";
  var C = EP_CONFIG, root = document.documentElement;
  var EP = window.EP = {cfg: C, counts: {}, tracks: [], trackColour: "mode"};

  EP.setLang = function (lang) {
    EP.lang = lang === "en" ? "en" : "zh";
    root.classList.remove("ep-lang-zh", "ep-lang-en");
    root.classList.add("ep-lang-" + EP.lang);
    root.setAttribute("lang", EP.lang === "en" ? "en" : "zh-CN");
  };
  EP.toggleLang = function () { EP.setLang(EP.lang === "en" ? "zh" : "en"); };
  EP.setLang(C.lang);

  // --- text helpers ------------------------------------------------------------------------------
  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }
  function bi(pair) {
    pair = pair || ["", ""];
    return '<span class="ep-zh">' + esc(pair[0]) + '</span><span class="ep-en">' + esc(pair[1]) + "</span>";
  }
  function t(key) { return bi(C.t[key]); }
  function num(v, digits) { return v === null || v === undefined ? "–" : Number(v).toFixed(digits); }
  function since(h) {
    return h === null || h === undefined ? t("never") : num(h, h < 10 ? 1 : 0) + " " + t("hours");
  }
  function day(d) { d = String(d); return d.slice(0, 4) + "-" + d.slice(4, 6) + "-" + d.slice(6, 8); }
  function card(title, rows) {
    return '<div class="ep-card"><b>' + title + "</b><table>" + rows.map(function (r) {
      return "<tr><th>" + t(r[0]) + "</th><td>" + r[1] + "</td></tr>";
    }).join("") + "</table></div>";
  }
  function km(v) { return num(v, 1) + " km"; }
  function hours(v, digits) { return num(v, digits) + " " + t("hours"); }

  // --- styles and tooltips by layer kind ---------------------------------------------------------
  function trackColour(p) {
    return EP.trackColour === "squad" ? (C.squads[p.s] || "#777") : (C.modes[p.m] || "#555");
  }
  var style = {
    township: function () {
      return {color: "#5b5b5b", weight: 1.4, dashArray: "7 4", fill: false, interactive: false,
              className: "ep-township"};
    },
    zone: function (f) {
      var c = f.properties.k === "no_fishing" ? "#1565c0" : "#2e7d32";
      return {color: c, weight: 1.6, dashArray: "2 5", fillColor: c, fillOpacity: 0.05, className: "ep-zone"};
    },
    cell: function (f) {
      var b = f.properties.b;
      return {color: "#ffffff", weight: 0.4, opacity: 0.7, fillColor: C.cells[b], fillOpacity: b ? 0.78 : 0.6,
              className: "ep-cell ep-cell-" + b};
    },
    reach: function (f) {
      var p = f.properties;
      return {color: C.fresh.colors[p.c], weight: p.p ? 5 : 3.5, opacity: 0.95, lineCap: "round",
              dashArray: p.c === 3 ? "6 5" : null, className: "ep-reach ep-" + C.fresh.keys[p.c]};
    },
    track: function (f) {
      return {color: trackColour(f.properties), weight: 1.6, opacity: 0.75,
              className: "ep-track ep-track-" + f.properties.m};
    },
    risk: function (f) {
      var p = f.properties, c = C.risk[p.b];
      return p.t === "reach" ? {color: c, weight: 8, opacity: 0.85, className: "ep-risk"}
                             : {color: c, weight: 1, fillColor: c, fillOpacity: 0.75, className: "ep-risk"};
    }
  };
  var tip = {
    zone: function (p) { return "<b>" + esc(p.n) + "</b>"; },
    reach: function (p) {
      return card(esc(p.n) + " · " + esc(p.i), [["since_patrol", since(p.h)], ["passes", p.s],
                                                ["patrol_km", km(p.k)]]);
    },
    cell: function (p) {
      var v = C.metric === "km" ? km(p.v) : hours(p.v, 2);
      return card(esc(p.n) + " · " + esc(p.i), [["since_patrol", since(p.h)], ["in_window", v]]);
    },
    track: function (p) {
      return card(esc(p.u), [["squad", p.s ? esc(p.s) : t("no_squad")],
                             ["mode", bi(C.modeLabels[p.m] || [p.m, p.m])], ["day", day(p.d)],
                             ["patrol_km", km(p.k)], ["duration", hours(p.h, 1)]]);
    },
    risk: function (p) {
      return card(t(p.t) + " · " + esc(p.i), [["incidents", p.n], ["patrol_km", km(p.k)],
                                              ["risk_value", num(p.r, 2)]]);
    }
  };

  // --- compact layers → GeoJSON (see geo.maps.encode_layer) --------------------------------------
  function ring(s, factor) {
    var out = [], i = 0, lat = 0, lon = 0;
    while (i < s.length) {
      var v = [0, 0];
      for (var k = 0; k < 2; k++) {
        var r = 0, shift = 0, b;
        do { b = s.charCodeAt(i++) - 63; r |= (b & 31) << shift; shift += 5; } while (b >= 32);
        v[k] = (r & 1) ? ~(r >> 1) : (r >> 1);
      }
      lat += v[0];
      lon += v[1];
      out.push([lon / factor, lat / factor]);
    }
    return out;
  }
  function geometry(s, factor) {
    var parts = s.slice(1).split(";").map(function (p) {
      return p.split(",").map(function (r) { return ring(r, factor); });
    });
    if (s.charAt(0) === "#") {
      return parts.length === 1 ? {type: "Polygon", coordinates: parts[0]}
                                : {type: "MultiPolygon", coordinates: parts};
    }
    var lines = parts.map(function (p) { return p[0]; });
    return lines.length === 1 ? {type: "LineString", coordinates: lines[0]}
                              : {type: "MultiLineString", coordinates: lines};
  }
  EP.features = function (data) {
    var keys = Object.keys(data.c);
    return {type: "FeatureCollection", features: data.g.map(function (g, i) {
      var p = {};
      keys.forEach(function (k) { var c = data.c[k]; p[k] = c.d ? c.d[c.x[i]] : c[i]; });
      return {type: "Feature", properties: p, geometry: geometry(g, data.f)};
    })};
  };
  EP.layer = function (kind, data) {
    var layer = L.geoJSON(EP.features(data), {style: style[kind], onEachFeature: function (f, l) {
      if (kind === "township") {
        l.bindTooltip(esc(f.properties.n), {permanent: true, direction: "center", className: "ep-label"});
      } else if (tip[kind]) {
        l.bindTooltip(function () { return tip[kind](f.properties); }, {sticky: true, className: "ep-tip"});
      }
    }});
    EP.counts[kind] = (EP.counts[kind] || 0) + data.g.length;
    if (kind === "track") { EP.tracks.push(layer); }
    return layer;
  };

  // --- point rows: reports, alerts, fixes ---------------------------------------------------------
  var fixRenderer = null;
  var marker = {
    report: function (r) {  // [lat, lon, category, status, observed, id]
      return L.circleMarker([r[0], r[1]], {radius: 7, color: "#fff", weight: 1.5, fillOpacity: 0.95,
                                           fillColor: C.categories.colors[r[2]], className: "ep-report"})
        .bindTooltip(function () {
          return card(bi(C.categories.labels[r[2]]) + (r[5] ? " · #" + esc(r[5]) : ""),
                      [["observed", esc(r[4])], ["status", bi(C.statuses[r[3]])]]);
        }, {className: "ep-tip"});
    },
    alert: function (r) {  // [lat, lon, severity, state, overdue, created, id, rule]
      var over = C.overdue[r[4]], c = C.severities.colors[r[2]];
      return L.circleMarker([r[0], r[1]], {radius: 11, color: c, weight: 3.5, fillColor: c, fillOpacity: 0.25,
                                           className: "ep-alert" + (over ? " ep-overdue-" + over : "")})
        .bindTooltip(function () {
          var title = bi(C.severities.labels[r[2]]) + (r[7] ? " · " + esc(r[7]) : "") + (r[6] ? " #" + esc(r[6]) : "");
          return card(title, [["created", esc(r[5])], ["state", bi(C.states[r[3]])],
                              ["overdue", over ? t("overdue_" + over) : "–"]]);
        }, {className: "ep-tip"});
    },
    fix: function (r) {  // [lat, lon]; drawn on a canvas, hidden below zoom 13
      if (!fixRenderer) {
        fixRenderer = L.canvas({padding: 0.2});
        fixRenderer.on("add", function () { L.DomUtil.addClass(fixRenderer._container, "ep-fixes-canvas"); });
      }
      return L.circleMarker([r[0], r[1]], {radius: 2, stroke: false, fillColor: "#263238", fillOpacity: 0.7,
                                           renderer: fixRenderer, interactive: false});
    }
  };
  EP.points = function (group, kind, rows) {
    rows.forEach(function (r) { group.addLayer(marker[kind](r)); });
    EP.counts[kind] = (EP.counts[kind] || 0) + rows.length;
  };

  // --- controls and the ready flag -----------------------------------------------------------------
  EP.control = function (map, html, position, className) {
    var c = L.control({position: position});
    c.onAdd = function () {
      var d = L.DomUtil.create("div", "leaflet-control " + className);
      d.innerHTML = html;
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    };
    return c.addTo(map);
  };
  EP.colourTracks = function (by) {
    EP.trackColour = by;
    EP.tracks.forEach(function (l) { l.setStyle(style.track); });
    root.classList.toggle("ep-tracks-by-squad", by === "squad");
  };
  EP.ready = function (map) {
    EP.map = map;
    if (window.self !== window.top) { root.classList.add("ep-embedded"); }  // the page around shows the title
    var zoom = function () { map.getContainer().classList.toggle("ep-zoomed-out", map.getZoom() < 13); };
    map.on("zoomend", zoom);
    zoom();
    if (window.innerWidth < 720) {
      var legend = document.querySelector(".ep-legend details");
      if (legend) { legend.open = false; }
    }
    window.ecopatrolMapCounts = EP.counts;
    window.ecopatrolMapReady = true;
    try {
      document.dispatchEvent(new CustomEvent("ecopatrol:ready", {detail: EP.counts}));
    } catch (e) { /* very old browsers: the flag is enough */ }
  };
})();
