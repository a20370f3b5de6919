/* The squad phone page: sign-in, the squad's open alerts live over Server-Sent Events (auto-reconnect,
   Last-Event-ID replay), sound and vibration on a new alert, alert detail with a self-hosted Leaflet map,
   actions, a report form, and positions sent as fixes — queued in IndexedDB while offline and sent once
   the signal returns (the server is idempotent on unit + time, so a resend never duplicates). */
(function () {
  "use strict";

  var CONFIG = JSON.parse(document.getElementById("config").textContent || "{}");
  var SESSION_KEY = "ecopatrol.phone.session";
  var LANG_KEY = "ecopatrol.phone.lang";
  var DUTY_KEY = "ecopatrol.phone.duty";
  var FLUSH_BATCH = 500;
  var FLUSH_EVERY_MS = 10000;

  var T = {
    zh: {
      app_title: "巡护警情", conn_live: "实时", conn_retry: "重连中…", conn_off: "未连接",
      login_title: "队员登录", login_hint: "输入指挥员发给您的登录码。", login_button: "登录",
      login_token: "使用令牌登录", login_failed: "登录失败：", revoked: "登录已失效，请重新登录。",
      duty_off: "开始巡护（上传位置）", duty_on: "巡护中 · 正在上传位置（点此结束）",
      gps_none: "未定位", gps_denied: "无法定位：请允许位置权限", queued: "待发送",
      open_alerts: "待处置警情", no_alerts: "暂无警情", file_report: "上报线索", logout: "退出登录",
      back: "‹ 返回", evidence: "证据", timeline: "处置记录",
      act_ack: "确认接警", act_en_route: "出发", act_on_scene: "到达现场", act_resolve: "处置完毕",
      act_decline: "拒绝/改派", outcome: "处置结果", out_confirmed: "查实", out_not_found: "未发现",
      out_false_report: "虚假线索", note: "备注", photo: "现场照片", cancel: "取消", submit: "提交",
      close: "关闭", reason: "原因", category: "类别", description: "情况描述", shots_heard: "听到枪声次数",
      dr_busy_other_incident: "正在处置其他警情", dr_too_far: "距离太远", dr_unsafe_conditions: "现场条件不安全",
      dr_vehicle_unavailable: "车辆不可用", dr_member_unavailable: "队员不在岗", dr_other: "其他",
      sev_critical: "紧急", sev_high: "高", sev_medium: "中", sev_low: "低",
      st_open: "待接警", st_acknowledged: "已确认", st_en_route: "已出发", st_on_scene: "已到场",
      st_resolved: "已完结", overdue_yellow: "超时·黄", overdue_red: "超时·红",
      tl_acknowledged: "确认接警", tl_en_route: "出发", tl_on_scene: "到达现场", tl_resolved: "处置完毕",
      tl_declined: "拒绝", tl_created: "生成", tl_assigned: "指派", tl_escalated: "升级上报",
      tl_notified: "通知", tl_updated: "新证据", tl_overdue: "超时", tl_unassigned: "未能指派",
      reports: "举报", reaches: "河段", cells: "林区网格", units: "巡护单元",
      ago_min: "分钟前", ago_now: "刚刚", ago_h: "小时前", system: "系统",
      new_alert: "新警情！", alert_gone: "该警情已改派或已完结", action_failed: "操作未成功：",
      offline_action: "无网络：操作未发送，请有信号后重试", report_need_gps: "需要先定位（开始巡护）",
      report_sent: "已上报，查询码：", where_here: "位置：当前手机位置", you: "我",
      cat_illegal_fishing: "非法捕捞", cat_electrofishing: "电鱼", cat_poisoning: "毒鱼",
      cat_illegal_hunting: "非法狩猎", cat_snare: "猎套", cat_firearm: "枪声/枪支", cat_other: "其他",
      dirs: ["北", "东北", "东", "东南", "南", "西南", "西", "西北"]
    },
    en: {
      app_title: "Patrol alerts", conn_live: "Live", conn_retry: "Reconnecting…", conn_off: "Offline",
      login_title: "Member sign-in", login_hint: "Enter the code your commander gave you.", login_button: "Sign in",
      login_token: "Sign in with a token", login_failed: "Sign-in failed: ", revoked: "Signed out: sign in again.",
      duty_off: "Start patrol (send my position)", duty_on: "On patrol · sending position (tap to stop)",
      gps_none: "No position", gps_denied: "No position: allow location access", queued: "queued",
      open_alerts: "Open alerts", no_alerts: "No alerts", file_report: "File a report", logout: "Sign out",
      back: "‹ Back", evidence: "Evidence", timeline: "Timeline",
      act_ack: "Acknowledge", act_en_route: "En route", act_on_scene: "On scene", act_resolve: "Resolve",
      act_decline: "Decline", outcome: "Outcome", out_confirmed: "Confirmed", out_not_found: "Not found",
      out_false_report: "False report", note: "Note", photo: "Photo", cancel: "Cancel", submit: "Submit",
      close: "Close", reason: "Reason", category: "Category", description: "What happened",
      shots_heard: "Shots heard",
      dr_busy_other_incident: "Busy with another incident", dr_too_far: "Too far",
      dr_unsafe_conditions: "Unsafe conditions", dr_vehicle_unavailable: "No vehicle",
      dr_member_unavailable: "Member unavailable", dr_other: "Other",
      sev_critical: "CRITICAL", sev_high: "HIGH", sev_medium: "MEDIUM", sev_low: "LOW",
      st_open: "Open", st_acknowledged: "Acknowledged", st_en_route: "En route", st_on_scene: "On scene",
      st_resolved: "Resolved", overdue_yellow: "OVERDUE·YELLOW", overdue_red: "OVERDUE·RED",
      tl_acknowledged: "acknowledged", tl_en_route: "en route", tl_on_scene: "on scene", tl_resolved: "resolved",
      tl_declined: "declined", tl_created: "created", tl_assigned: "assigned", tl_escalated: "escalated",
      tl_notified: "notified", tl_updated: "new evidence", tl_overdue: "overdue", tl_unassigned: "unassigned",
      reports: "Reports", reaches: "Reaches", cells: "Forest cells", units: "Units",
      ago_min: "min ago", ago_now: "just now", ago_h: "h ago", system: "system",
      new_alert: "New alert!", alert_gone: "This alert was reassigned or resolved", action_failed: "Not done: ",
      offline_action: "No signal: not sent, try again with signal", report_need_gps: "Needs a position (start patrol)",
      report_sent: "Reported. Tracking code: ", where_here: "Location: this phone's position", you: "me",
      cat_illegal_fishing: "Illegal fishing", cat_electrofishing: "Electrofishing", cat_poisoning: "Poisoning",
      cat_illegal_hunting: "Illegal hunting", cat_snare: "Snares", cat_firearm: "Shots / firearm", cat_other: "Other",
      dirs: ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]
    }
  };
  var SEV_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
  var CATEGORIES = ["firearm", "illegal_hunting", "snare", "illegal_fishing", "electrofishing", "poisoning", "other"];

  var state = {
    lang: initialLang(),
    session: loadSession(),
    alerts: {},          // id -> alert view
    fresh: {},           // id -> true while it flashes
    lastEventId: null,
    es: null,
    reconnectMs: 1000,
    reconnectTimer: null,
    snapshots: 0,
    position: null,      // {lon, lat, accuracy_m, t_ms}
    watchId: null,
    selected: null,
    map: null,
    layers: null,
    reaches: null,
    queued: 0,
    flushing: false,
    audio: null
  };

  function $(id) { return document.getElementById(id); }
  function t(key) { var v = T[state.lang][key]; return v === undefined ? key : v; }

  // ------------------------------------------------------------------------------------------ i18n

  function initialLang() {
    var q = new URLSearchParams(location.search).get("lang");
    if (q === "en" || q === "zh") { return q; }
    var stored = localStorage.getItem(LANG_KEY);
    return stored === "en" ? "en" : (CONFIG.lang === "en" ? "en" : "zh");
  }

  function applyLang() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    $("lang-switch").textContent = state.lang === "en" ? "中文" : "EN";
    renderDuty();
    renderConn(state.connState || "off");
    renderAll();
  }

  // -------------------------------------------------------------------------------------- session

  function loadSession() {
    try { return JSON.parse(localStorage.getItem(SESSION_KEY) || "null"); } catch (e) { return null; }
  }

  function saveSession(s) {
    state.session = s;
    if (s) { localStorage.setItem(SESSION_KEY, JSON.stringify(s)); } else { localStorage.removeItem(SESSION_KEY); }
  }

  function api(method, path, body, isForm) {
    var headers = { "Accept": "application/json" };
    if (state.session && state.session.token) { headers.Authorization = "Bearer " + state.session.token; }
    var init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined && body !== null) {
      if (isForm) { init.body = body; } else {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
    }
    return fetch(path, init).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  }

  function detailText(data) {
    if (data && Array.isArray(data.detail)) {
      return data.detail.map(function (d) { return d.msg; }).join("; ");
    }
    return (data && data.detail) || String(data || "");
  }

  function login(body) {
    $("login-error").hidden = true;
    unlockAudio();
    return api("POST", "/m/login", body).then(function (res) {
      if (!res.ok) { throw new Error(detailText(res.data) || res.status); }
      var s = res.data;
      if (!s.token) { s.token = body.token; }
      saveSession(s);
      if (location.search.indexOf("code=") >= 0) { history.replaceState(null, "", "/m"); }
      start();
    }).catch(function (err) {
      $("login-error").textContent = t("login_failed") + err.message;
      $("login-error").hidden = false;
    });
  }

  function logout(message) {
    stopDuty();
    if (state.es) { state.es.close(); state.es = null; }
    clearTimeout(state.reconnectTimer);
    saveSession(null);
    state.alerts = {};
    state.lastEventId = null;
    state.snapshots = 0;
    showLogin(message);
  }

  function showLogin(message) {
    $("login").hidden = false; $("home").hidden = true; $("detail").hidden = true;
    $("who-name").textContent = t("app_title");
    renderConn("off");
    if (message) { $("login-error").textContent = message; $("login-error").hidden = false; }
  }

  function start() {
    var s = state.session;
    $("login").hidden = true; $("home").hidden = false;
    $("who-name").textContent = s.name || t("app_title");
    $("who-squad").textContent = (s.squad_name || s.squad_id || "") + (CONFIG.deployment ? " · " + CONFIG.deployment : "");
    connect();
    if (localStorage.getItem(DUTY_KEY) === "on") { startDuty(); }
    refreshQueued();
    flushFixes();
    renderAll();
  }

  // -------------------------------------------------------------------------------------- stream

  function renderConn(kind) {
    state.connState = kind;
    var el = $("conn");
    el.className = "conn conn-" + kind;
    $("conn-text").textContent = t(kind === "live" ? "conn_live" : kind === "retry" ? "conn_retry" : "conn_off");
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    if (state.es) { state.es.close(); }
    var url = "/api/v1/alerts/stream?token=" + encodeURIComponent(state.session.token);
    if (state.lastEventId !== null) { url += "&last_event_id=" + state.lastEventId; }
    var es = new EventSource(url);
    state.es = es;
    es.addEventListener("open", function () { state.reconnectMs = 1000; renderConn("live"); });
    es.addEventListener("snapshot", function (e) { track(e); onSnapshot(JSON.parse(e.data)); });
    es.addEventListener("alert.changed", function (e) { track(e); onChange(JSON.parse(e.data)); });
    es.addEventListener("alert.reassigned", function (e) { track(e); onChange(JSON.parse(e.data)); });
    es.onerror = function () {
      if (es !== state.es) { return; }
      if (es.readyState === EventSource.CLOSED) {
        renderConn("off");
        scheduleReconnect();
      } else {
        renderConn("retry");  // the browser reconnects by itself, sending Last-Event-ID
      }
    };
  }

  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(function () {
      api("GET", "/m/me").then(function (res) {
        if (res.status === 401) { logout(t("revoked")); return; }
        connect();
      }).catch(function () { connect(); });
    }, state.reconnectMs);
    state.reconnectMs = Math.min(state.reconnectMs * 2, 15000);
  }

  function track(e) {
    if (e.lastEventId !== "" && e.lastEventId !== undefined) { state.lastEventId = Number(e.lastEventId); }
  }

  function mine(alert) {
    if (!alert || alert.state === "resolved") { return false; }
    var squad = state.session && state.session.squad_id;
    return !squad || alert.squad_id === squad || (alert.squad && alert.squad.id === squad);
  }

  function onSnapshot(data) {
    var next = {};
    var isNew = [];
    (data.alerts || []).forEach(function (a) {
      if (!mine(a)) { return; }
      if (!state.alerts[a.id]) { isNew.push(a.id); }
      next[a.id] = a;
    });
    state.alerts = next;
    if (state.snapshots > 0 && isNew.length) { ring(isNew); }
    state.snapshots += 1;
    renderAll();
  }

  function onChange(data) {
    var a = data.alert;
    var id = data.alert_id;
    var known = !!state.alerts[id];
    if (mine(a)) {
      state.alerts[id] = a;
      if (!known) { ring([id]); }
    } else if (known) {
      delete state.alerts[id];
      if (state.selected === id) { toast(t("alert_gone")); }
    }
    renderAll();
  }

  // ---------------------------------------------------------------------------- sound, vibration

  function unlockAudio() {
    try {
      if (!state.audio) {
        var Ctx = window.AudioContext || window.webkitAudioContext;
        if (Ctx) { state.audio = new Ctx(); }
      }
      if (state.audio && state.audio.state === "suspended") { state.audio.resume(); }
    } catch (e) { /* no sound on this browser */ }
  }

  function beep() {
    var ctx = state.audio;
    if (!ctx) { return; }
    try {
      var now = ctx.currentTime;
      for (var i = 0; i < 3; i++) {
        var osc = ctx.createOscillator();
        var gain = ctx.createGain();
        osc.type = "square";
        osc.frequency.value = i % 2 ? 660 : 880;
        gain.gain.setValueAtTime(0.0001, now + i * 0.35);
        gain.gain.exponentialRampToValueAtTime(0.4, now + i * 0.35 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.35 + 0.3);
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(now + i * 0.35); osc.stop(now + i * 0.35 + 0.32);
      }
    } catch (e) { /* ignore */ }
  }

  function ring(ids) {
    ids.forEach(function (id) {
      state.fresh[id] = true;
      setTimeout(function () { delete state.fresh[id]; }, 4000);
    });
    beep();
    if (navigator.vibrate) { navigator.vibrate([500, 200, 500, 200, 500]); }
    window.ecopatrolRings = (window.ecopatrolRings || 0) + 1;
    toast(t("new_alert"), true);
  }

  // ---------------------------------------------------------------------------------- rendering

  function title(a) { return (state.lang === "en" ? a.title_en : a.title_zh) || a.title_zh || a.title_en || a.rule; }
  function summary(a) { return (state.lang === "en" ? a.summary_en : a.summary_zh) || a.summary_zh || ""; }

  function sorted() {
    return Object.keys(state.alerts).map(function (k) { return state.alerts[k]; }).sort(function (a, b) {
      var oa = a.overdue === "red" ? 0 : a.overdue === "yellow" ? 1 : 2;
      var ob = b.overdue === "red" ? 0 : b.overdue === "yellow" ? 1 : 2;
      return (SEV_RANK[a.severity] - SEV_RANK[b.severity]) || (oa - ob) || ((b.created_ms || 0) - (a.created_ms || 0));
    });
  }

  function renderAll() {
    if (!state.session) { return; }
    var list = $("alerts");
    var items = sorted();
    list.textContent = "";
    items.forEach(function (a) { list.appendChild(card(a)); });
    $("count").textContent = String(items.length);
    $("empty").hidden = items.length > 0;
    if (state.selected) {
      if (state.alerts[state.selected]) { renderDetail(state.alerts[state.selected]); } else { closeDetail(); }
    }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function card(a) {
    var li = el("li");
    var b = el("button", "alert-card sev-" + a.severity + (state.fresh[a.id] ? " fresh" : ""));
    b.type = "button";
    b.dataset.alertId = a.id;
    b.dataset.state = a.state;
    var meta = el("div", "meta");
    meta.appendChild(el("span", "sev sev-" + a.severity, t("sev_" + a.severity)));
    meta.appendChild(el("span", "state", t("st_" + a.state)));
    if (a.overdue) { meta.appendChild(el("span", "overdue overdue-" + a.overdue, t("overdue_" + a.overdue))); }
    meta.appendChild(el("span", "age", ago(a.created_ms)));
    b.appendChild(meta);
    b.appendChild(el("h3", null, title(a)));
    var nav = navText(a);
    if (nav) { b.appendChild(el("div", "nav", nav)); }
    var last = lastAction(a);
    if (last) { b.appendChild(el("div", "who-did", last)); }
    b.addEventListener("click", function () { openDetail(a.id); });
    li.appendChild(b);
    return li;
  }

  var ACTION_KINDS = ["acknowledged", "en_route", "on_scene", "resolved", "declined"];

  function lastAction(a) {
    var tl = a.timeline || [];
    for (var i = tl.length - 1; i >= 0; i--) {
      if (ACTION_KINDS.indexOf(tl[i].kind) >= 0) {
        return actorName(tl[i].actor) + " · " + t("tl_" + tl[i].kind) + " · " + clock(tl[i].at_ms);
      }
    }
    return "";
  }

  function actorName(actor) {
    if (!actor) { return t("system"); }
    var parts = String(actor).split(":");
    var id = parts.slice(1).join(":");
    var s = state.session || {};
    if (parts[0] === "person") {
      if (id === s.person_id) { return (s.name || id) + "（" + t("you") + "）"; }
      var members = s.members || [];
      for (var i = 0; i < members.length; i++) { if (members[i].id === id) { return members[i].name; } }
      return id;
    }
    if (parts[0] === "system" || parts[0] === "rule") { return t("system"); }
    return id || actor;
  }

  function clock(ms) {
    if (!ms) { return ""; }
    var d = new Date(ms);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function ago(ms) {
    if (!ms) { return ""; }
    var min = Math.floor((Date.now() - ms) / 60000);
    if (min < 1) { return t("ago_now"); }
    if (min < 120) { return min + " " + t("ago_min"); }
    return Math.floor(min / 60) + " " + t("ago_h");
  }

  // ------------------------------------------------------------------------ distance and bearing

  function haversineM(lat1, lon1, lat2, lon2) {
    var R = 6371008.8, r = Math.PI / 180;
    var dLat = (lat2 - lat1) * r, dLon = (lon2 - lon1) * r;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function bearingDeg(lat1, lon1, lat2, lon2) {
    var r = Math.PI / 180;
    var y = Math.sin((lon2 - lon1) * r) * Math.cos(lat2 * r);
    var x = Math.cos(lat1 * r) * Math.sin(lat2 * r) - Math.sin(lat1 * r) * Math.cos(lat2 * r) * Math.cos((lon2 - lon1) * r);
    return (Math.atan2(y, x) / r + 360) % 360;
  }

  function where(a) {
    var c = a && a.location && a.location.coordinates;
    if (c && c.length >= 2) { return { lon: c[0], lat: c[1] }; }
    if (a && typeof a.lat === "number" && typeof a.lon === "number") { return { lon: a.lon, lat: a.lat }; }
    return null;
  }

  function navText(a) {
    var p = state.position;
    var w = where(a);
    if (!p || !w) { return ""; }
    var d = haversineM(p.lat, p.lon, w.lat, w.lon);
    var b = bearingDeg(p.lat, p.lon, w.lat, w.lon);
    var dist = d < 1000 ? Math.round(d) + " m" : (d / 1000).toFixed(d < 10000 ? 1 : 0) + " km";
    return dist + " · " + t("dirs")[Math.round(b / 45) % 8] + " " + Math.round(b) + "°";
  }

  // ------------------------------------------------------------------------------------ detail

  function openDetail(id) {
    unlockAudio();
    state.selected = id;
    $("home").hidden = true;
    $("detail").hidden = false;
    renderDetail(state.alerts[id]);
    window.scrollTo(0, 0);
  }

  function closeDetail() {
    state.selected = null;
    $("detail").hidden = true;
    $("home").hidden = !state.session;
  }

  function renderDetail(a) {
    if (!a) { return; }
    var sev = $("d-sev");
    sev.className = "sev sev-" + a.severity;
    sev.textContent = t("sev_" + a.severity);
    var od = $("d-overdue");
    od.hidden = !a.overdue;
    if (a.overdue) { od.className = "overdue overdue-" + a.overdue; od.textContent = t("overdue_" + a.overdue); }
    $("d-title").textContent = title(a);
    var last = lastAction(a);
    $("d-state").textContent = t("st_" + a.state) + (last ? " — " + last : "");
    $("d-nav").textContent = navText(a);
    $("d-summary").textContent = summary(a);
    renderButtons(a);
    renderEvidence(a);
    renderTimeline(a);
    renderMap(a);
  }

  var ORDER = ["open", "acknowledged", "en_route", "on_scene", "resolved"];
  var ACTION_TARGET = { ack: "acknowledged", en_route: "en_route", on_scene: "on_scene", resolve: "resolved" };

  function renderButtons(a) {
    var rank = ORDER.indexOf(a.state);
    document.querySelectorAll("#actions [data-action]").forEach(function (b) {
      var action = b.dataset.action;
      if (action === "decline") {
        b.disabled = rank > ORDER.indexOf("en_route") || !state.session.squad_id;
      } else {
        b.disabled = ORDER.indexOf(ACTION_TARGET[action]) <= rank;
      }
    });
  }

  function renderEvidence(a) {
    var ul = $("d-evidence");
    ul.textContent = "";
    var ev = a.evidence || {};
    [["report_ids", "reports"], ["reaches", "reaches"], ["cells", "cells"], ["unit_ids", "units"]].forEach(function (pair) {
      var v = ev[pair[0]] || [];
      if (v.length) { ul.appendChild(el("li", null, t(pair[1]) + "：" + v.join("、"))); }
    });
  }

  function renderTimeline(a) {
    var ol = $("d-timeline");
    ol.textContent = "";
    (a.timeline || []).forEach(function (e) {
      if (e.kind === "notified" || e.kind === "routed") { return; }
      var li = el("li");
      li.appendChild(el("time", null, clock(e.at_ms)));
      var note = e.data && e.data.note ? "：" + e.data.note : "";
      li.appendChild(document.createTextNode(actorName(e.actor) + " " + t("tl_" + e.kind) + note));
      ol.appendChild(li);
    });
  }

  function renderMap(a) {
    if (!window.L) { return; }
    if (!state.map) {
      state.map = L.map("map", { zoomControl: true, attributionControl: false });
      L.control.scale({ metric: true, imperial: false }).addTo(state.map);
      state.layers = L.layerGroup().addTo(state.map);
      loadReaches();
    }
    var map = state.map;
    state.layers.clearLayers();
    var pts = [];
    if (state.reaches && a.evidence && a.evidence.reaches && a.evidence.reaches.length) {
      var wanted = a.evidence.reaches;
      var feats = state.reaches.features.filter(function (f) { return wanted.indexOf(f.properties.reach_id) >= 0; });
      if (feats.length) {
        var gj = L.geoJSON({ type: "FeatureCollection", features: feats },
          { style: { color: "#4cc3ff", weight: 7, className: "alert-reach" } });
        state.layers.addLayer(gj);
        var b = gj.getBounds();
        pts.push(b.getSouthWest(), b.getNorthEast());
      }
    }
    var w = where(a);
    if (w) {
      state.layers.addLayer(L.circleMarker([w.lat, w.lon], { radius: 13, color: "#fff", weight: 3,
        fillColor: "#ff453a", fillOpacity: 1, className: "alert-point" }));
      pts.push(L.latLng(w.lat, w.lon));
    }
    var p = state.position;
    if (p) {
      if (p.accuracy_m) {
        state.layers.addLayer(L.circle([p.lat, p.lon], { radius: p.accuracy_m, color: "#4c8dff", weight: 1, fillOpacity: 0.15 }));
      }
      state.layers.addLayer(L.circleMarker([p.lat, p.lon], { radius: 9, color: "#fff", weight: 3,
        fillColor: "#4c8dff", fillOpacity: 1, className: "phone-point" }));
      pts.push(L.latLng(p.lat, p.lon));
    }
    setTimeout(function () {
      map.invalidateSize();
      if (pts.length > 1) { map.fitBounds(L.latLngBounds(pts), { padding: [30, 30], maxZoom: 16 }); }
      else if (pts.length === 1) { map.setView(pts[0], 15); }
      else if (CONFIG.bounds) { map.fitBounds([[CONFIG.bounds[1], CONFIG.bounds[0]], [CONFIG.bounds[3], CONFIG.bounds[2]]]); }
      else { map.setView([29, 120.7], 10); }
    }, 0);
  }

  function loadReaches() {
    fetch("/api/v1/layers/reaches.geojson").then(function (r) { return r.ok ? r.json() : null; }).then(function (gj) {
      if (!gj) { return; }
      state.reaches = gj;
      if (state.map) {
        L.geoJSON(gj, { style: { color: "#24506e", weight: 2 }, interactive: false }).addTo(state.map);
        if (state.selected && state.alerts[state.selected]) { renderMap(state.alerts[state.selected]); }
      }
    }).catch(function () { /* offline: the map still shows the points */ });
  }

  // ----------------------------------------------------------------------------------- actions

  function act(action, body, isForm) {
    var id = state.selected;
    if (!id) { return Promise.resolve(); }
    return api("POST", "/api/v1/alerts/" + encodeURIComponent(id) + "/" + action, body || {}, isForm)
      .then(function (res) {
        if (!res.ok) { toast(t("action_failed") + detailText(res.data)); return; }
        var view = res.data && (res.data.alert || (res.data.id === id ? res.data : null));
        if (view && view.id === id) { onChange({ alert_id: id, alert: view }); }
      })
      .catch(function () { toast(t("offline_action")); });
  }

  function onActionClick(e) {
    var b = e.target.closest("[data-action]");
    if (!b || b.disabled) { return; }
    unlockAudio();
    var action = b.dataset.action;
    if (action === "resolve") { $("resolve-form").reset(); $("resolve-dialog").showModal(); return; }
    if (action === "decline") { $("decline-form").reset(); $("decline-dialog").showModal(); return; }
    act(action, {});
  }

  function onResolveClose() {
    if ($("resolve-dialog").returnValue !== "ok") { return; }
    var form = $("resolve-form");
    var outcome = form.querySelector("input[name=outcome]:checked").value;
    var note = form.note.value.trim();
    var photo = form.photo.files && form.photo.files[0];
    if (photo) {
      var fd = new FormData();
      fd.append("outcome", outcome);
      if (note) { fd.append("note", note); }
      fd.append("photo", photo);
      act("resolve", fd, true);
    } else {
      act("resolve", note ? { outcome: outcome, note: note } : { outcome: outcome });
    }
  }

  function onDeclineClose() {
    if ($("decline-dialog").returnValue !== "ok") { return; }
    var reason = $("decline-form").querySelector("input[name=reason]:checked").value;
    act("decline", { reason: reason });
  }

  // ----------------------------------------------------------------------------------- reports

  function openReport() {
    var box = $("report-categories");
    box.querySelectorAll("label").forEach(function (l) { l.remove(); });
    CATEGORIES.forEach(function (c, i) {
      var label = el("label");
      var input = el("input");
      input.type = "radio"; input.name = "category"; input.value = c; input.checked = i === 0;
      label.appendChild(input);
      label.appendChild(el("span", null, t("cat_" + c)));
      box.appendChild(label);
    });
    $("report-shots").hidden = false;
    $("report-result").hidden = true;
    $("report-ok").hidden = false;
    $("report-where").textContent = state.position ? t("where_here") + " (" + state.position.lat.toFixed(5) + ", "
      + state.position.lon.toFixed(5) + ")" : t("report_need_gps");
    $("report-dialog").showModal();
  }

  function onReportCategory(e) {
    if (e.target.name === "category") { $("report-shots").hidden = e.target.value !== "firearm"; }
  }

  function submitReport(e) {
    e.preventDefault();
    var form = $("report-form");
    var p = state.position;
    if (!p) { toast(t("report_need_gps")); return; }
    var category = form.querySelector("input[name=category]:checked").value;
    var details = {};
    if (category === "firearm") { details.shots_heard = Number(form.shots_heard.value || 0); }
    if (category === "illegal_fishing") { details.method = "other"; }
    var body = {
      category: category, observed_at: isoLocal(Date.now()), datum: "wgs84",
      location: { type: "Point", coordinates: [p.lon, p.lat] },
      description: form.description.value.trim(), details: details
    };
    api("POST", "/api/v1/reports", body).then(function (res) {
      if (!res.ok) { toast(t("action_failed") + detailText(res.data)); return; }
      $("report-result").textContent = t("report_sent") + (res.data.tracking_code || res.data.id);
      $("report-result").hidden = false;
      $("report-ok").hidden = true;
    }).catch(function () { toast(t("offline_action")); });
  }

  function isoLocal(ms) {
    var d = new Date(ms);
    var off = -d.getTimezoneOffset();
    var sign = off >= 0 ? "+" : "-";
    var pad = function (n) { return String(Math.floor(Math.abs(n))).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" +
      pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + sign + pad(off / 60) + ":" + pad(off % 60);
  }

  // ------------------------------------------------------------------- positions, offline queue

  var dbPromise = null;

  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open("ecopatrol-phone", 1);
        req.onupgradeneeded = function () { req.result.createObjectStore("fixes", { keyPath: "key" }); };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }

  function tx(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var transaction = d.transaction("fixes", mode);
        var store = transaction.objectStore("fixes");
        var out = fn(store);
        transaction.oncomplete = function () { resolve(out && out.result !== undefined ? out.result : out); };
        transaction.onerror = function () { reject(transaction.error); };
      });
    });
  }

  function queueFix(fix) {
    return tx("readwrite", function (s) { s.put({ key: fix.unit_id + "|" + fix.time, fix: fix }); })
      .then(refreshQueued);
  }

  function refreshQueued() {
    return tx("readonly", function (s) { return s.count(); }).then(function (n) {
      state.queued = n;
      $("queued").textContent = String(n);
      window.ecopatrolQueued = n;
    }).catch(function () { /* no IndexedDB */ });
  }

  function flushFixes() {
    if (!state.session) { return Promise.resolve(); }
    if (state.flushing) { state.flushAgain = true; return Promise.resolve(); }
    state.flushing = true;
    state.flushAgain = false;
    return tx("readonly", function (s) { return s.getAll(null, FLUSH_BATCH); }).then(function (rows) {
      if (!rows || !rows.length) { return null; }
      var body = { source: "phone", fixes: rows.map(function (r) { return r.fix; }) };
      return api("POST", "/api/v1/fixes", body).then(function (res) {
        // stored (or stored before: duplicates), or refused for good: either way it leaves the queue
        var done = res.ok || (res.status === 422) || res.status === 403;
        if (!done) { return null; }
        return tx("readwrite", function (s) { rows.forEach(function (r) { s.delete(r.key); }); }).then(function () {
          return rows.length === FLUSH_BATCH ? "more" : null;
        });
      });
    }).catch(function () { return null; /* offline: keep them */ }).then(function (more) {
      state.flushing = false;
      refreshQueued();
      if (more === "more" || state.flushAgain) { return flushFixes(); }
      return null;
    });
  }

  function onPosition(pos) {
    var c = pos.coords;
    var tMs = Math.floor(pos.timestamp || Date.now());
    state.position = { lat: c.latitude, lon: c.longitude, accuracy_m: c.accuracy, t_ms: tMs };
    $("gps-text").textContent = c.latitude.toFixed(5) + ", " + c.longitude.toFixed(5) + " ±" + Math.round(c.accuracy || 0) + "m";
    var s = state.session;
    if (s && s.unit_id) {
      var fix = { unit_id: s.unit_id, time: new Date(tMs).toISOString(), lon: c.longitude, lat: c.latitude, mode: "foot" };
      if (c.accuracy !== null && c.accuracy !== undefined) { fix.accuracy_m = Math.max(0, c.accuracy); }
      if (c.speed !== null && c.speed !== undefined && c.speed >= 0) { fix.speed_mps = c.speed; }
      if (c.heading !== null && c.heading !== undefined && !isNaN(c.heading)) { fix.bearing_deg = c.heading; }
      if (c.altitude !== null && c.altitude !== undefined) { fix.altitude_m = c.altitude; }
      queueFix(fix).then(flushFixes);
    }
    if (state.selected && state.alerts[state.selected]) { renderDetail(state.alerts[state.selected]); }
    else { renderAll(); }
  }

  function startDuty() {
    if (!navigator.geolocation || state.watchId !== null) { return; }
    localStorage.setItem(DUTY_KEY, "on");
    state.watchId = navigator.geolocation.watchPosition(onPosition, function (err) {
      if (err.code === 1) { $("gps-text").textContent = t("gps_denied"); }
    }, { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 });
    renderDuty();
  }

  function stopDuty() {
    if (state.watchId !== null) { navigator.geolocation.clearWatch(state.watchId); }
    state.watchId = null;
    localStorage.setItem(DUTY_KEY, "off");
    renderDuty();
  }

  function renderDuty() {
    var on = state.watchId !== null;
    var b = $("duty");
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.firstElementChild.textContent = t(on ? "duty_on" : "duty_off");
  }

  // ---------------------------------------------------------------------------------- plumbing

  var toastTimer = null;
  function toast(text, ok) {
    var box = $("toast");
    box.textContent = text;
    box.className = "toast" + (ok ? " ok" : "");
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 4000);
  }

  function bind() {
    $("lang-switch").addEventListener("click", function () {
      state.lang = state.lang === "en" ? "zh" : "en";
      localStorage.setItem(LANG_KEY, state.lang);
      applyLang();
    });
    $("login-form").addEventListener("submit", function (e) {
      e.preventDefault();
      login({ code: $("login-code").value.trim() });
    });
    $("login-token-go").addEventListener("click", function () { login({ token: $("login-token").value.trim() }); });
    $("logout").addEventListener("click", function () { logout(); });
    $("duty").addEventListener("click", function () { unlockAudio(); if (state.watchId === null) { startDuty(); } else { stopDuty(); } });
    $("back").addEventListener("click", closeDetail);
    $("actions").addEventListener("click", onActionClick);
    $("resolve-dialog").addEventListener("close", onResolveClose);
    $("decline-dialog").addEventListener("close", onDeclineClose);
    $("open-report").addEventListener("click", openReport);
    $("report-categories").addEventListener("change", onReportCategory);
    $("report-ok").addEventListener("click", submitReport);
    document.addEventListener("click", unlockAudio, { passive: true });
    window.addEventListener("online", function () { flushFixes(); if (state.session && (!state.es || state.es.readyState === 2)) { connect(); } });
    setInterval(function () { flushFixes(); }, FLUSH_EVERY_MS);
    setInterval(function () { if (!state.selected) { renderAll(); } }, 30000);
  }

  function boot() {
    bind();
    applyLang();
    var code = new URLSearchParams(location.search).get("code");
    if (code) { $("login-code").value = code; login({ code: code }); return; }
    if (state.session && state.session.token) {
      api("GET", "/m/me").then(function (res) {
        if (res.status === 401) { logout(t("revoked")); return; }
        if (res.ok) { var s = res.data; s.token = state.session.token; saveSession(s); }
        start();
      }).catch(function () { start(); });
    } else {
      showLogin();
    }
  }

  window.ecopatrolPhone = { state: state, flush: flushFixes };
  boot();
}());
