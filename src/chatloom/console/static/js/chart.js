// A stacked bar chart in plain SVG: one bar per day, one colour per group, with a legend.

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2d5be3", "#e3702d", "#2da36b", "#b23ad1", "#d1a33a", "#3ab5d1", "#d13a5a", "#6b7280"];

function svg(tag, attrs = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `value`. */
export function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/**
 * days: [{date, groups: [{key, cost}]}]; keys: the groups in legend order; label(key) names a group;
 * format(value) writes an amount, axis(value) an axis label. Returns the <svg> and each group's colour.
 */
export function stackedBars(days, keys, { label = String, format = String, axis = format, width = 820, height = 260 } = {}) {
  const margin = { top: 12, right: 12, bottom: 36, left: 72 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const totals = days.map((day) => day.groups.reduce((sum, group) => sum + group.cost, 0));
  const top = niceCeiling(Math.max(0, ...totals));
  const colour = new Map(keys.map((key, index) => [key, PALETTE[index % PALETTE.length]]));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": "Cost per day" });
  const y = (value) => margin.top + plotHeight - (value / top) * plotHeight;

  for (let tick = 0; tick <= 4; tick += 1) {
    const value = (top * tick) / 4;
    chart.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), class: "grid" }));
    chart.append(svg("text", { x: margin.left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis" }, axis(value)));
  }
  const slot = plotWidth / Math.max(1, days.length);
  const barWidth = Math.max(2, slot * 0.7);
  days.forEach((day, index) => {
    const x = margin.left + index * slot + (slot - barWidth) / 2;
    let base = 0;
    const bar = svg("g", { class: "bar", "data-date": day.date, "data-cost": totals[index] });
    for (const key of keys) {
      const group = day.groups.find((item) => item.key === key);
      if (!group || group.cost <= 0) continue;
      const rect = svg("rect", {
        x, width: barWidth, y: y(base + group.cost), height: Math.max(1, y(base) - y(base + group.cost)), fill: colour.get(key),
      });
      rect.append(svg("title", {}, `${day.date} · ${label(key)}: ${format(group.cost)}`));
      bar.append(rect);
      base += group.cost;
    }
    chart.append(bar);
    if (index % Math.ceil(days.length / 10) === 0 || index === days.length - 1) {
      chart.append(svg("text", { x: x + barWidth / 2, y: height - margin.bottom + 16, "text-anchor": "middle", class: "axis" }, day.date.slice(5)));
    }
  });
  chart.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0), class: "baseline" }));
  return { chart, colour };
}

/** A small coloured square for a legend. */
export function swatch(fill) {
  const element = svg("svg", { viewBox: "0 0 10 10", class: "swatch", "aria-hidden": "true" });
  element.append(svg("rect", { width: 10, height: 10, rx: 2, fill }));
  return element;
}
