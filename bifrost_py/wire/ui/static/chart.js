// Usage over time as stacked bars in an inline SVG, one chart per grouping (provider, tenant),
// redrawn every few seconds and when the measure or the window changes.
"use strict";
(function () {
  const base = document.body.dataset.base;
  const measure = document.getElementById("measure");
  const span = document.getElementById("window");
  const NS = "http://www.w3.org/2000/svg";
  const COLOURS = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2",
                   "#65a30d", "#dc2626"];
  const W = 640, H = 190, LEFT = 58, RIGHT = 8, TOP = 10, BOTTOM = 24;
  const EVERY_MS = 5000;
  let usage = null;

  function svg(name, attributes, text) {
    const node = document.createElementNS(NS, name);
    Object.keys(attributes).forEach(function (key) {
      node.setAttribute(key, attributes[key]);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function format(value) {
    if (measure.value === "cost") {
      return "$" + value.toFixed(value >= 100 ? 0 : value >= 1 ? 2 : 4);
    }
    if (value >= 1e6) {
      return (value / 1e6).toFixed(1) + "M";
    }
    if (value >= 1e4) {
      return (value / 1e3).toFixed(1) + "k";
    }
    return Number.isInteger(value) ? String(value) : value.toFixed(1);
  }

  function when(iso) {
    return usage.slot >= 86400 ? iso.slice(5, 10) : iso.slice(5, 10) + " " + iso.slice(11, 16);
  }

  function total(values) {
    return values.reduce(function (sum, value) { return sum + value; }, 0);
  }

  function legend(series, key) {
    const list = document.createElement("ul");
    list.className = "legend";
    series.forEach(function (one, index) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = COLOURS[index % COLOURS.length];
      item.append(swatch, one.name + " " + format(total(one[key])));
      list.append(item);
    });
    if (series.length === 0) {
      const item = document.createElement("li");
      item.textContent = "nothing in this window";
      list.append(item);
    }
    return list;
  }

  function draw(holder, series) {
    const key = measure.value, starts = usage.starts, slots = starts.length;
    const sums = starts.map(function (_, i) {
      return total(series.map(function (one) { return one[key][i]; }));
    });
    const empty = Math.max.apply(null, sums) === 0;
    const top = empty ? 1 : Math.max.apply(null, sums);
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM, step = plotW / slots;
    const chart = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "plot", role: "img"});
    // An empty window has a baseline and no scale.
    (empty ? [0] : [0, 0.5, 1]).forEach(function (fraction) {
      const y = TOP + plotH * (1 - fraction);
      chart.append(svg("line", {x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: "grid"}));
      chart.append(svg("text", {x: LEFT - 6, y: y + 4, class: "axis", "text-anchor": "end"},
                       format(top * fraction)));
    });
    const below = starts.map(function () { return 0; });
    series.forEach(function (one, index) {
      one[key].forEach(function (value, i) {
        if (value > 0) {
          const height = plotH * value / top;
          below[i] += value;
          const bar = svg("rect", {x: LEFT + i * step + 1, y: TOP + plotH * (1 - below[i] / top),
                                   width: Math.max(1, step - 2), height: height,
                                   fill: COLOURS[index % COLOURS.length]});
          bar.append(svg("title", {}, one.name + ", " + when(starts[i]) + ": " + format(value)));
          chart.append(bar);
        }
      });
    });
    // The first and last labels line up with the plot's edges, so neither is cut off.
    [[0, "start", LEFT], [Math.floor(slots / 2), "middle", LEFT + (Math.floor(slots / 2) + 0.5) * step],
     [slots - 1, "end", W - RIGHT]].forEach(function (label) {
      chart.append(svg("text", {x: label[2], y: H - 6, class: "axis", "text-anchor": label[1]},
                       when(starts[label[0]])));
    });
    holder.replaceChildren(chart, legend(series, key));
  }

  function redraw() {
    if (usage === null) {
      return;
    }
    draw(document.getElementById("chart-providers"), usage.providers);
    const tenants = document.getElementById("chart-tenants");
    if (tenants !== null && usage.tenants) {
      draw(tenants, usage.tenants);
    }
  }

  async function load() {
    try {
      const response = await fetch(base + "/api/usage?window=" + encodeURIComponent(span.value),
                                   {credentials: "same-origin"});
      if (response.ok) {
        usage = await response.json();
        redraw();
      }
    } catch (error) {
      // Drawn again on the next load.
    }
  }

  if (measure !== null) {
    measure.addEventListener("change", redraw);
    span.addEventListener("change", load);
    load();
    window.setInterval(load, EVERY_MS);
  }
})();
