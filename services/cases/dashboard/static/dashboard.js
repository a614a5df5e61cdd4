/* The managers' dashboard: sign in, read /api/v1/dashboard, draw it; zh-CN and en.
   The access token lasts minutes: it is renewed with the sign-in's refresh token shortly before it
   expires, or once after a 401; both stay in this tab's sessionStorage. */
(function () {
  "use strict";
  var TOKEN = "dashboard.token", REFRESH = "dashboard.refresh", EXPIRES = "dashboard.expires",
      COMMUNITY = "dashboard.community", LANGUAGE = "dashboard.language";
  var EARLY_MS = 60 * 1000;  // renew this long before the access token expires
  var renewing = null;  // the refresh in flight, shared by every request that needs it
  var messages = {}, data = null, queues = null;
  var language = localStorage.getItem(LANGUAGE) || "zh-CN";

  function $(id) { return document.getElementById(id); }

  function t(key, values) {
    var text = (messages[language] || {})[key] || (messages["zh-CN"] || {})[key] || key;
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  }

  function money(value) {
    if (value === null || value === undefined) return "—";
    var parts = Number(value).toFixed(2).split(".");
    return parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + parts[1];
  }

  function count(value) {  // the ops API says null for what its source cannot tell
    return value === null || value === undefined ? "—" : String(value);
  }

  function percent(value) {
    return value === null || value === undefined ? "—" : (Number(value) * 100).toFixed(1) + "%";
  }

  function table(node, header, rows) {
    node.textContent = "";
    var head = node.insertRow();
    header.forEach(function (h) { var th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
    if (!rows.length) {
      var cell = node.insertRow().insertCell();
      cell.colSpan = header.length;
      cell.className = "empty";
      cell.textContent = t("none");
    }
    rows.forEach(function (row) {
      var tr = node.insertRow();
      if (row.flagged) tr.className = "flagged";
      (row.cells || row).forEach(function (value) { tr.insertCell().textContent = value; });
    });
  }

  function translateStatic() {
    document.documentElement.lang = language;
    document.title = t("title");
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
  }

  function figure(label, value, name) {
    var box = document.createElement("div");
    box.className = "figure";
    box.setAttribute("data-figure", name);
    var number = document.createElement("strong");
    number.textContent = value;
    var caption = document.createElement("span");
    caption.textContent = label;
    box.appendChild(number);
    box.appendChild(caption);
    return box;
  }

  function drawProgress() {
    var today = data.today, box = $("today-figures");
    box.textContent = "";
    [["recovered_today", money(today.recovered), "recovered_today"],
     ["recovered_month", money(data.month.recovered), "recovered_month"],
     ["recovery_rate", percent(today.recovery_rate), "recovery_rate"],
     ["recovered_to_date", money(today.recovered_to_date), "recovered_to_date"],
     ["arrears", money(today.arrears), "arrears"],
     ["promises_kept", String(today.promises_kept), "promises_kept"],
     ["promises_broken", String(today.promises_broken), "promises_broken"],
     ["cases_closed", String(today.cases_closed), "cases_closed"]].forEach(function (f) {
      box.appendChild(figure(t(f[0]), f[1], f[2]));
    });
    Charts.columns($("month-chart"), "month", data.month.days.map(function (d) {
      return {label: d.date.slice(5), value: Number(d.recovered), shown: money(d.recovered)};
    }), t("daily_recovered"));
    var campaigns = $("campaigns");
    campaigns.textContent = "";
    if (!data.campaigns.length) {
      var none = document.createElement("p");
      none.className = "note";
      none.textContent = t("no_campaign");
      campaigns.appendChild(none);
    }
    data.campaigns.forEach(function (c) {
      var p = c.progress, title = document.createElement("p"), chart = document.createElement("div");
      title.className = "campaign-name";
      title.textContent = c.name + " · " + (p.on_track ? t("on_track") : t("behind")) + " · " + t("days_elapsed") +
        " " + p.days_elapsed + "/" + p.days_total;
      chart.className = "chart-box";
      campaigns.appendChild(title);
      campaigns.appendChild(chart);
      Charts.gauge(chart, "campaign", Number(p.recovery_rate), Number(p.target_recovery_rate),
                   t("recovery_rate") + " " + percent(p.recovery_rate), t("target") + " " + percent(p.target_recovery_rate),
                   !p.on_track);
    });
  }

  function drawRanking() {
    var ranking = data.ranking;
    $("ranking-rule").textContent = t("bottom_rule", {bottom: ranking.bottom, days: ranking.days});
    Charts.bars($("ranking-chart"), "ranking", ranking.collectors.map(function (c) {
      return {label: (c.rank || "—") + ". " + c.name, value: Number(c.recovery_rate || 0), flagged: c.flagged,
              shown: c.rank === null ? t("unranked") : percent(c.recovery_rate) + (c.flagged ? " ⚑" : "")};
    }), t("ranking"));
    table($("ranking-table"), [t("rank"), t("collector"), t("recovery_rate"), t("recovered_today"),
                               t("recovered_to_date"), t("flagged")],
          ranking.collectors.map(function (c) {
            return {flagged: c.flagged, cells: [c.rank === null ? "—" : String(c.rank), c.name, percent(c.recovery_rate),
                    money(c.recovered), money(c.recovered_to_date), c.flagged ? "⚑ " + c.days_at_bottom : ""]};
          }));
  }

  function drawFunnel() {
    var funnel = data.funnel;
    $("funnel-rule").textContent = t("funnel_rule", {days: 30, conversion_days: funnel.conversion_days});
    Charts.bars($("funnel-chart"), "funnel", funnel.stages.map(function (s) {
      return {label: t("stage." + s.stage), value: s.reached,
              shown: s.reached + " · " + t("conversion") + " " + percent(s.conversion)};
    }), t("funnel"));
  }

  function drawIssues() {
    var issues = data.issues;
    Charts.bars($("issues-chart"), "issues", issues.by_category.filter(function (c) { return c.open; }).map(function (c) {
      return {label: t("category." + c.category), value: c.open, flagged: c.breached > 0,
              shown: t("open") + " " + c.open + (c.breached ? " · " + t("breached") + " " + c.breached : "")};
    }), t("issues"));
    table($("breached-table"), [t("category"), t("case"), t("deadline")],
          issues.breached.map(function (i) {
            return [t("category." + i.category), i.case_id ? i.case_id.slice(0, 8) : "—",
                    new Date(i.deadline_at).toLocaleString(language, {timeZone: data.community.timezone})];
          }));
  }

  function drawPromises() {
    var promises = data.promises;
    table($("due-table"), [t("case"), t("amount"), t("promised_date")], promises.due_today.map(function (p) {
      return [p.case_id.slice(0, 8), money(p.amount), p.promised_date];
    }));
    $("broken-title").textContent = t("broken_recently", {days: promises.broken_days});
    table($("broken-table"), [t("case"), t("amount"), t("promised_date"), t("broken_on")],
          promises.broken.map(function (p) {
            return [p.case_id.slice(0, 8), money(p.amount), p.promised_date, p.broken_on];
          }));
  }

  function drawUnreachable() {
    table($("unreachable-table"), [t("owner"), t("case"), t("amount_owed")], data.unreachable.owners.map(function (o) {
      return [o.name, o.case_id ? o.case_id.slice(0, 8) : "—", money(o.amount_owed)];
    }));
  }

  function drawQueues() {
    var box = $("queue-health");
    box.textContent = "";
    if (!queues) {
      var p = document.createElement("p");
      p.className = "note unavailable";
      p.textContent = t("queues_unavailable");
      box.appendChild(p);
      return;
    }
    var alerts = document.createElement("ul");
    alerts.className = "alerts";
    (queues.alerts.length ? queues.alerts : [null]).forEach(function (a) {
      var li = document.createElement("li");
      li.className = a ? "alert " + a.severity : "note";
      li.textContent = a ? a.subject + ": " + a.message : t("no_alerts");
      alerts.appendChild(li);
    });
    box.appendChild(alerts);
    var list = document.createElement("table");
    box.appendChild(list);
    table(list, [t("queue"), t("ready"), t("unacked"), t("consumers"), t("oldest_age")],
          queues.queues.map(function (q) {
            return [q.name, count(q.ready), count(q.unacked), count(q.consumers),
                    count(q.oldest_age_seconds === null || q.oldest_age_seconds === undefined ? null
                          : Math.round(q.oldest_age_seconds))];
          }));
  }

  function draw() {
    translateStatic();
    if (!data) return;
    $("as-of").textContent = t("as_of") + " " + data.date;
    var picker = $("community");
    picker.textContent = "";
    data.communities.forEach(function (c) {
      var option = document.createElement("option");
      option.value = c.id;
      option.textContent = c.name;
      option.selected = c.id === data.community.id;
      picker.appendChild(option);
    });
    $("picker").hidden = data.communities.length < 2;
    drawProgress();
    drawRanking();
    drawFunnel();
    drawIssues();
    drawPromises();
    drawUnreachable();
    drawQueues();
    document.body.setAttribute("data-drawn", language);
  }

  function keep(body) {  // an access token (and, from a sign-in, the refresh token) from the API
    sessionStorage.setItem(TOKEN, body.token);
    sessionStorage.setItem(EXPIRES, String(Date.now() + body.expires_in * 1000));
    if (body.refresh_token) sessionStorage.setItem(REFRESH, body.refresh_token);
  }

  function renew() {  // resolves true with a new access token, false when the sign-in has ended
    var refreshToken = sessionStorage.getItem(REFRESH);
    if (!refreshToken) return Promise.resolve(false);
    if (!renewing) {
      renewing = fetch("/api/v1/auth/refresh", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({refresh_token: refreshToken})
      }).then(function (response) {
        if (!response.ok) return false;
        return response.json().then(function (body) { keep(body); return true; });
      }).catch(function () { return false; }).then(function (renewed) { renewing = null; return renewed; });
    }
    return renewing;
  }

  function send(path) {
    return fetch(path, {headers: {"Authorization": "Bearer " + sessionStorage.getItem(TOKEN)}});
  }

  function authorised(path) {
    var soon = Number(sessionStorage.getItem(EXPIRES) || 0) - Date.now() < EARLY_MS;
    return (soon ? renew() : Promise.resolve(true)).then(function () {
      return send(path);
    }).then(function (response) {
      if (response.status !== 401) return response;
      return renew().then(function (renewed) { return renewed ? send(path) : response; });
    });
  }

  function signOut() {
    var refreshToken = sessionStorage.getItem(REFRESH);
    var ended = refreshToken ? fetch("/api/v1/auth/sign-out", {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({refresh_token: refreshToken})
    }).catch(function () { return null; }) : Promise.resolve(null);
    showSignIn();
    return ended;
  }

  function showSignIn() {
    [TOKEN, REFRESH, EXPIRES].forEach(function (key) { sessionStorage.removeItem(key); });
    data = null;
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
  }

  function load() {
    var community = sessionStorage.getItem(COMMUNITY);
    var path = "/api/v1/dashboard" + (community ? "?community=" + encodeURIComponent(community) : "");
    $("load-error").hidden = true;
    return authorised(path).then(function (response) {
      if (response.status === 401) { showSignIn(); return null; }
      if (response.status === 404 && community) { sessionStorage.removeItem(COMMUNITY); return load(); }
      if (!response.ok) throw new Error(String(response.status));
      return response.json().then(function (body) {
        data = body;
        $("sign-in").hidden = true;
        $("board").hidden = false;
        $("sign-out").hidden = false;
        draw();
        return loadQueues();
      });
    }).catch(function () {
      $("load-error").textContent = t("load_failed");
      $("load-error").hidden = false;
    });
  }

  function loadQueues() {
    return authorised("/api/v1/ops/queues").then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }).then(function (body) {
      queues = body && Array.isArray(body.queues) ? {queues: body.queues, alerts: body.alerts || []} : null;
    }).catch(function () { queues = null; }).then(drawQueues);
  }

  function signIn(event) {
    event.preventDefault();
    var form = event.target;
    $("sign-in-error").textContent = "";
    fetch("/api/v1/auth/token", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username: form.username.value, password: form.password.value})
    }).then(function (response) {
      if (!response.ok) {
        $("sign-in-error").textContent = t(response.status === 429 ? "sign_in_locked" : "sign_in_failed");
        return null;
      }
      return response.json().then(function (body) {
        keep(body);
        form.password.value = "";
        return load();
      });
    });
  }

  function start() {
    var source = document.querySelector("script[data-messages]").getAttribute("data-messages");
    $("sign-in").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    $("language").addEventListener("click", function () {
      language = language === "zh-CN" ? "en" : "zh-CN";
      localStorage.setItem(LANGUAGE, language);
      draw();
    });
    $("community").addEventListener("change", function (event) {
      sessionStorage.setItem(COMMUNITY, event.target.value);
      load();
    });
    fetch(source).then(function (r) { return r.json(); }).then(function (catalogue) {
      messages = catalogue;
      translateStatic();
      if (sessionStorage.getItem(TOKEN) || sessionStorage.getItem(REFRESH)) load(); else showSignIn();
    });
  }

  document.addEventListener("DOMContentLoaded", start);
}());
