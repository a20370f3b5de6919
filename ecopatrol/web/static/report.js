/* The /report form: category picker with each category's own fields, a county map (vector layers
   from /api/v1/layers, no tiles), "use my location", photos, and the tracking code when done.
   Plain ES2017, no build step, nothing from the internet. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("config").textContent);
  var TEXT = {
    zh: {
      title: "生态违法线索举报", what: "发生了什么？", where: "在哪里？",
      where_hint: "在地图上点一下选择地点，或使用当前位置。", use_location: "使用我的位置",
      locating: "正在定位…", located: "已定位", place_name: "没有定位？填写乡镇或河流名称",
      when: "什么时候看到的？", describe: "情况描述", describe_hint: "人数、车辆或船只、工具、去向等",
      photos: "照片（可选，最多5张）", add_photos: "添加照片", contact: "联系方式（可选）",
      contact_hint: "只有处理人员能看到，不会公开。", name: "姓名", phone: "电话", submit: "提交举报",
      sending: "正在提交…", emergency: "紧急情况请直接拨打 110。", thanks: "已收到，谢谢您的举报！",
      keep_code: "请保存查询码，凭它查看处理进度：", see_status: "查看处理进度", again: "再举报一条",
      yes: "是", no: "否", unknown: "不清楚", choose: "请选择", picked: "已选位置",
      need_category: "请选择举报类别", need_place: "请在地图上选择地点，或填写乡镇/河流名称",
      need_time: "请填写看到的时间", too_many_photos: "最多只能上传5张照片",
      geo_failed: "无法获取位置，请在地图上点选", network: "网络错误，请稍后重试（再次提交不会重复）",
      problem: "请检查以下内容：", rate_limited: "提交过于频繁，请稍后再试",
      field: { category: "类别", location: "地点", place_name: "地名", observed_at: "时间",
               description: "描述", photos: "照片", details: "详细信息", reporter: "联系方式" }
    },
    en: {
      title: "Report an environmental offence", what: "What happened?", where: "Where?",
      where_hint: "Tap the map to pick the place, or use your location.", use_location: "Use my location",
      locating: "Locating…", located: "Located", place_name: "No GPS? Type a township or river name",
      when: "When did you see it?", describe: "Description", describe_hint: "People, vehicles or boats, tools, where they went…",
      photos: "Photos (optional, up to 5)", add_photos: "Add photos", contact: "Contact (optional)",
      contact_hint: "Only the officers handling it see this; never public.", name: "Name", phone: "Phone",
      submit: "Send report", sending: "Sending…", emergency: "In an emergency call 110.",
      thanks: "Received — thank you!", keep_code: "Keep this tracking code to follow your report:",
      see_status: "See its status", again: "Send another report", yes: "Yes", no: "No", unknown: "Not sure",
      choose: "Choose…", picked: "Picked", need_category: "Choose what happened",
      need_place: "Tap the map, or type a township or river name", need_time: "Say when you saw it",
      too_many_photos: "At most 5 photos", geo_failed: "Could not get your location; tap the map instead",
      network: "Network error; try again (sending twice does not duplicate it)",
      problem: "Please check:", rate_limited: "Too many reports; try again in a minute",
      field: { category: "Category", location: "Place", place_name: "Place name", observed_at: "Time",
               description: "Description", photos: "Photos", details: "Details", reporter: "Contact" }
    }
  };

  var state = {
    lang: initialLang(), category: null, point: null, township: null, photos: [],
    idempotencyKey: newKey(), townships: []
  };
  var $ = function (id) { return document.getElementById(id); };
  var map, marker;

  function initialLang() {
    var q = new URLSearchParams(location.search).get("lang");
    if (q === "en" || q === "zh") { return q; }
    try { return localStorage.getItem("ecopatrol.lang") || "zh"; } catch (e) { return "zh"; }
  }
  function t(key) { return TEXT[state.lang][key] || TEXT.zh[key] || key; }
  function label(obj) { return obj[state.lang] || obj.zh; }

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  /* ---- language ---------------------------------------------------------------------------- */
  function applyLang() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    $("lang-switch").textContent = state.lang === "en" ? "中文" : "EN";
    document.title = t("title") + " · " + config.deployment;
    renderCategories();
    renderDetails();
    showPicked();
  }
  $("lang-switch").addEventListener("click", function () {
    state.lang = state.lang === "en" ? "zh" : "en";
    try { localStorage.setItem("ecopatrol.lang", state.lang); } catch (e) { /* private mode */ }
    var url = new URL(location.href);
    url.searchParams.set("lang", state.lang);
    history.replaceState(null, "", url);
    applyLang();
  });

  /* ---- categories and their fields ----------------------------------------------------------- */
  function renderCategories() {
    var box = $("categories");
    box.textContent = "";
    config.categories.forEach(function (cat) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "chip";
      b.setAttribute("role", "radio");
      b.dataset.category = cat.key;
      b.setAttribute("aria-checked", String(state.category === cat.key));
      b.textContent = label(cat.label);
      b.addEventListener("click", function () {
        if (state.category !== cat.key) { state.category = cat.key; renderCategories(); renderDetails(); }
      });
      box.appendChild(b);
    });
  }

  function currentSpec() {
    return config.categories.filter(function (c) { return c.key === state.category; })[0];
  }

  function renderDetails() {
    var box = $("details");
    var kept = readDetails(true);
    box.textContent = "";
    var spec = currentSpec();
    if (!spec) { return; }
    spec.fields.forEach(function (f) { box.appendChild(fieldControl(f, kept[f.name])); });
  }

  function fieldControl(f, value) {
    var wrap = document.createElement("label");
    var checkbox = f.kind === "bool" && !f.nullable;  /* yes/no; a nullable bool also offers "not sure" */
    wrap.className = "field" + (checkbox ? " check" : "");
    var span = document.createElement("span");
    span.textContent = label(f.label) + (f.required ? " *" : "");
    var input;
    if (f.kind === "enum") {
      input = document.createElement("select");
      input.appendChild(option("", t("choose")));
      f.options.forEach(function (o) { input.appendChild(option(o.value, label(o.label))); });
    } else if (checkbox) {
      input = document.createElement("input");
      input.type = "checkbox";
      input.checked = value === true;
      wrap.appendChild(input);
      wrap.appendChild(span);
      input.dataset.field = f.name;
      input.dataset.kind = f.kind;
      return wrap;
    } else if (f.kind === "bool") {
      input = document.createElement("select");
      input.appendChild(option("", t("unknown")));
      input.appendChild(option("true", t("yes")));
      input.appendChild(option("false", t("no")));
    } else {
      input = document.createElement("input");
      if (f.kind === "int" || f.kind === "float") {
        input.type = "number";
        input.inputMode = f.kind === "int" ? "numeric" : "decimal";
        input.step = f.kind === "int" ? "1" : "any";
        if (f.min !== undefined) { input.min = f.min; }
        if (f.max !== undefined) { input.max = f.max; }
      } else if (f.max_length) {
        input.maxLength = f.max_length;
      }
    }
    input.dataset.field = f.name;
    input.dataset.kind = f.kind;
    input.name = "details." + f.name;
    if (value !== undefined && value !== null) { input.value = String(value); }
    wrap.appendChild(span);
    wrap.appendChild(input);
    return wrap;
  }

  function option(value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }

  function readDetails(raw) {
    var out = {};
    document.querySelectorAll("#details [data-field]").forEach(function (el) {
      var kind = el.dataset.kind, name = el.dataset.field;
      if (el.type === "checkbox") { out[name] = el.checked; return; }
      if (el.value === "") { return; }
      if (raw) { out[name] = el.value; return; }
      if (kind === "int") { out[name] = parseInt(el.value, 10); }
      else if (kind === "float") { out[name] = parseFloat(el.value); }
      else if (kind === "bool") { out[name] = el.value === "true"; }
      else { out[name] = el.value; }
    });
    return out;
  }

  /* ---- the map ------------------------------------------------------------------------------- */
  function initMap() {
    var b = config.bounds;
    map = L.map("map", { zoomControl: true, attributionControl: false, zoomSnap: 0.25 });
    map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
    if (config.tile_url) { L.tileLayer(config.tile_url, { maxZoom: 18 }).addTo(map); }
    loadLayer("townships", function (data) {
      state.townships = data.features;
      var names = {};
      var layer = L.geoJSON(data, {
        style: { color: "#6b8f71", weight: 1.2, fillColor: "#cfe3c8", fillOpacity: 0.35 },
        onEachFeature: function (feature, lyr) {
          names[feature.properties.name] = true;
          lyr.bindTooltip(feature.properties.name, { permanent: true, direction: "center",
                                                     className: "township-label" });
        }
      }).addTo(map);
      layer.bringToBack();
      if (data.features.length) { map.fitBounds(layer.getBounds(), { padding: [8, 8] }); }
      addPlaces(Object.keys(names));
    });
    loadLayer("reaches", function (data) {
      var rivers = {};
      L.geoJSON(data, {
        style: { color: "#2b7bb9", weight: 2.2, opacity: 0.9 },
        interactive: false,
        onEachFeature: function (feature) { rivers[feature.properties.river_name] = true; }
      }).addTo(map);
      addPlaces(Object.keys(rivers));
    });
    map.on("click", function (e) { setPoint(e.latlng.lat, e.latlng.lng); });
  }

  function loadLayer(kind, done) {
    fetch("/api/v1/layers/" + kind + ".geojson").then(function (r) {
      return r.ok ? r.json() : { type: "FeatureCollection", features: [] };
    }).then(done).catch(function () { /* the map still works without this layer */ });
  }

  function addPlaces(names) {
    var list = $("places");
    names.sort().forEach(function (n) { list.appendChild(option(n, n)); });
  }

  function setPoint(lat, lon) {
    state.point = [lon, lat];
    state.township = townshipAt(lon, lat);
    if (!marker) {
      marker = L.circleMarker([lat, lon], { radius: 10, color: "#b3261e", weight: 3, fillColor: "#e53935",
                                            fillOpacity: 0.6 }).addTo(map);
    } else {
      marker.setLatLng([lat, lon]);
    }
    $("place_name").value = "";
    $("map").classList.remove("invalid");
    showPicked();
  }

  function showPicked() {
    if (!state.point) { $("picked").textContent = ""; return; }
    $("picked").textContent = t("picked") + ": " + (state.township ? state.township + " · " : "") +
      state.point[1].toFixed(5) + ", " + state.point[0].toFixed(5);
  }

  function townshipAt(lon, lat) {
    for (var i = 0; i < state.townships.length; i++) {
      var g = state.townships[i].geometry;
      var polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
      for (var j = 0; j < polys.length; j++) {
        if (inPolygon(lon, lat, polys[j])) { return state.townships[i].properties.name; }
      }
    }
    return null;
  }

  function inPolygon(x, y, rings) {
    var inside = false;
    rings.forEach(function (ring) {
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
        if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { inside = !inside; }
      }
    });
    return inside;
  }

  $("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { showErrors([t("geo_failed")]); return; }
    $("picked").textContent = t("locating");
    navigator.geolocation.getCurrentPosition(function (pos) {
      /* browsers report WGS-84 */
      setPoint(pos.coords.latitude, pos.coords.longitude);
      map.setView([pos.coords.latitude, pos.coords.longitude], Math.max(map.getZoom(), 14));
    }, function () {
      $("picked").textContent = "";
      showErrors([t("geo_failed")]);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  /* ---- time and photos ----------------------------------------------------------------------- */
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function localInputValue(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function isoWithOffset(value) {
    var d = new Date(value);
    if (isNaN(d.getTime())) { return null; }
    var off = -d.getTimezoneOffset(), sign = off >= 0 ? "+" : "-";
    off = Math.abs(off);
    return localInputValue(d) + ":00" + sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60);
  }
  $("observed_at").value = localInputValue(new Date());
  $("observed_at").max = localInputValue(new Date(Date.now() + 5 * 60000));

  $("photos").addEventListener("change", function (e) {
    var all = state.photos.concat(Array.prototype.slice.call(e.target.files));
    if (all.length > config.max_photos) { showErrors([t("too_many_photos")]); }
    state.photos = all.slice(0, config.max_photos);
    e.target.value = "";
    renderPhotos();
  });

  function renderPhotos() {
    var list = $("photo-list");
    list.textContent = "";
    state.photos.forEach(function (file, i) {
      var li = document.createElement("li");
      var img = document.createElement("img");
      img.alt = file.name;
      img.src = URL.createObjectURL(file);
      li.appendChild(img);
      li.appendChild(document.createTextNode(file.name));
      li.title = file.name;
      li.addEventListener("click", function () { state.photos.splice(i, 1); renderPhotos(); });
      list.appendChild(li);
    });
  }

  /* ---- submitting ---------------------------------------------------------------------------- */
  function buildReport() {
    var problems = [];
    if (!state.category) { problems.push(t("need_category")); }
    var placeName = $("place_name").value.trim();
    if (!state.point && !placeName) { problems.push(t("need_place")); $("map").classList.add("invalid"); }
    var observed = isoWithOffset($("observed_at").value);
    if (!observed) { problems.push(t("need_time")); }
    var report = {
      category: state.category, observed_at: observed, details: readDetails(false),
      description: $("description").value.trim()
    };
    if (state.point) {
      report.location = { type: "Point", coordinates: state.point };
      report.datum = "wgs84";
    }
    if (placeName) { report.place_name = placeName; }
    var name = $("reporter_name").value.trim(), phone = $("reporter_phone").value.trim();
    if (name || phone) { report.reporter = { name: name || null, phone: phone || null }; }
    return { report: report, problems: problems };
  }

  $("report-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var built = buildReport();
    if (built.problems.length) { showErrors(built.problems); return; }
    hideErrors();
    var body = new FormData();
    body.append("report", JSON.stringify(built.report));
    state.photos.forEach(function (f) { body.append("photos", f, f.name); });
    var button = $("submit");
    button.disabled = true;
    button.textContent = t("sending");
    fetch("/api/v1/public/reports", {
      method: "POST", body: body, headers: { "Idempotency-Key": state.idempotencyKey, Accept: "application/json" }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
    }).then(function (res) {
      if (res.status === 201) { showDone(res.data); return; }
      if (res.status === 429) { showErrors([t("rate_limited")]); return; }
      showErrors(serverProblems(res.data));
    }).catch(function () {
      showErrors([t("network")]);
    }).then(function () {
      button.disabled = false;
      button.textContent = t("submit");
    });
  });

  function serverProblems(data) {
    var detail = data && Array.isArray(data.detail) ? data.detail : [];
    if (!detail.length) { return [t("network")]; }
    return detail.map(function (d) {
      var loc = (d.loc || []).filter(function (p) { return p !== "body" && p !== "report"; });
      var name = TEXT[state.lang].field[loc[0]] || loc[0] || "";
      markInvalid(loc);
      return (name ? name + (loc.length > 1 ? " · " + loc.slice(1).join(".") : "") + "：" : "") + d.msg;
    });
  }

  function markInvalid(loc) {
    var target = null;
    if (loc[0] === "location") { target = $("map"); }
    else if (loc[0] === "details" && loc[1]) { target = document.querySelector('[data-field="' + loc[1] + '"]'); }
    else if (loc[0]) { target = $(loc[0]); }
    if (target) { target.classList.add("invalid"); }
  }

  function showErrors(lines) {
    var box = $("errors");
    box.textContent = "";
    var p = document.createElement("p");
    p.textContent = t("problem");
    p.style.margin = "0";
    var ul = document.createElement("ul");
    lines.forEach(function (line) { var li = document.createElement("li"); li.textContent = line; ul.appendChild(li); });
    box.appendChild(p);
    box.appendChild(ul);
    box.hidden = false;
    box.scrollIntoView({ behavior: "smooth", block: "center" });
  }
  function hideErrors() {
    $("errors").hidden = true;
    document.querySelectorAll(".invalid").forEach(function (el) { el.classList.remove("invalid"); });
  }

  function showDone(receipt) {
    $("report-form").hidden = true;
    $("done").hidden = false;
    $("code").textContent = receipt.tracking_code;
    $("qr").src = receipt.qr_svg_url;
    var link = new URL(receipt.status_url, location.href);
    if (state.lang === "en") { link.searchParams.set("lang", "en"); }
    $("status-link").href = link.toString();
    window.scrollTo(0, 0);
  }

  $("again").addEventListener("click", function () {
    state.idempotencyKey = newKey();
    state.photos = [];
    renderPhotos();
    $("description").value = "";
    $("done").hidden = true;
    $("report-form").hidden = false;
  });

  applyLang();
  initMap();
})();
