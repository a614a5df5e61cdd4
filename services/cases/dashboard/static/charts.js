/* Small SVG charts drawn from the dashboard's figures: no library, nothing fetched. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(chart, width, height, title) {
    // Drawn at its own size (shrunk to fit a narrow panel by CSS), so text stays the page's size.
    var root = el("svg", {"class": "chart", "data-chart": chart, viewBox: "0 0 " + width + " " + height,
                          width: width, height: height, role: "img", "aria-label": title || chart});
    return root;
  }

  function place(container, root) {
    container.textContent = "";
    container.appendChild(root);
    return root;
  }

  /* Horizontal bars, one row per item: {label, value, shown, flagged}. */
  function bars(container, chart, items, title) {
    var row = 26, labelWidth = 150, width = 560, barRoom = width - labelWidth - 190;
    var widest = Math.max.apply(null, items.map(function (i) { return i.value || 0; }).concat([0]));
    var root = svg(chart, width, Math.max(row * items.length, row), title);
    items.forEach(function (item, n) {
      var y = n * row, length = widest > 0 ? Math.max((item.value || 0) / widest * barRoom, item.value ? 2 : 0) : 0;
      root.appendChild(el("text", {"class": "label", x: labelWidth - 8, y: y + 17, "text-anchor": "end"}, item.label));
      var bar = el("rect", {"class": "bar" + (item.flagged ? " flagged" : ""), x: labelWidth, y: y + 5,
                            width: length.toFixed(1), height: row - 10, rx: 2, "data-value": item.value || 0});
      bar.appendChild(el("title", {}, item.label + ": " + item.shown));
      root.appendChild(bar);
      root.appendChild(el("text", {"class": "value", x: labelWidth + length + 6, y: y + 17}, item.shown));
    });
    return place(container, root);
  }

  /* Vertical columns, one per day: {label, value, shown}; every label shown when few, else a few. */
  function columns(container, chart, items, title) {
    var width = 900, height = 200, bottom = 24, top = 18, left = 4;
    var step = (width - left) / Math.max(items.length, 1), widest = Math.max.apply(null,
      items.map(function (i) { return i.value || 0; }).concat([0]));
    var root = svg(chart, width, height, title);
    root.appendChild(el("line", {"class": "axis", x1: left, x2: width, y1: height - bottom, y2: height - bottom}));
    items.forEach(function (item, n) {
      var h = widest > 0 ? (item.value || 0) / widest * (height - bottom - top) : 0;
      var x = left + n * step + step * 0.15, w = step * 0.7;
      var bar = el("rect", {"class": "bar", x: x.toFixed(1), y: (height - bottom - h).toFixed(1), width: w.toFixed(1),
                            height: h.toFixed(1), "data-value": item.value || 0});
      bar.appendChild(el("title", {}, item.label + ": " + item.shown));
      root.appendChild(bar);
      if (item.value && (items.length <= 10 || item.value === widest)) {
        root.appendChild(el("text", {"class": "value", x: (x + w / 2).toFixed(1), y: (height - bottom - h - 4).toFixed(1),
                                     "text-anchor": "middle"}, item.shown));
      }
      if (items.length <= 10 || n % 5 === 0 || n === items.length - 1) {
        root.appendChild(el("text", {"class": "label", x: (x + w / 2).toFixed(1), y: height - 8, "text-anchor": "middle"},
                                     item.label));
      }
    });
    return place(container, root);
  }

  /* A progress bar against a target: value and target are shares (0-1). */
  function gauge(container, chart, value, target, shownValue, shownTarget, behind) {
    var width = 520, height = 44, room = width - 20;
    var root = svg(chart, width, height, shownValue + " / " + shownTarget);
    root.appendChild(el("rect", {"class": "track", x: 10, y: 8, width: room, height: 16, rx: 3}));
    var bar = el("rect", {"class": "bar" + (behind ? " flagged" : ""), x: 10, y: 8,
                          width: (Math.min(value, 1) * room).toFixed(1), height: 16, rx: 3, "data-value": value});
    bar.appendChild(el("title", {}, shownValue));
    root.appendChild(bar);
    var tx = 10 + Math.min(target, 1) * room;
    root.appendChild(el("line", {"class": "target", x1: tx, x2: tx, y1: 4, y2: 28, "data-value": target}));
    root.appendChild(el("text", {"class": "value", x: 10, y: 40}, shownValue));
    root.appendChild(el("text", {"class": "label", x: Math.min(tx, width - 10), y: 40, "text-anchor": "end"}, shownTarget));
    return place(container, root);
  }

  window.Charts = {bars: bars, columns: columns, gauge: gauge};
}());
