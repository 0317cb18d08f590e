// Costs: a chart of cost per day over the last 30 days, split by assistant or by model, and the totals.

import { api } from "../api.js";
import { stackedBars, swatch } from "../chart.js";
import { h, money, replace, shortId } from "../dom.js";

const DAYS = 30;

export async function render(main, route, { go }) {
  const groupBy = route.params.get("groupBy") === "model" ? "model" : "assistant";
  const [report, assistants] = await Promise.all([
    api.get("/analytics/costs", { days: DAYS, groupBy }),
    groupBy === "assistant" ? api.get("/assistant", { limit: 1000 }) : Promise.resolve([]),
  ]);
  const names = new Map(assistants.map((item) => [item.id, item.name || shortId(item.id)]));
  const label = (key) => (key === null ? (groupBy === "assistant" ? "inline assistant" : "unknown model") : names.get(key) || key);
  const keys = report.groups.map((group) => group.key);
  const axis = (value) => (value === 0 ? "$0" : `$${Number(value.toPrecision(3))}`);
  const { chart, colour } = stackedBars(report.daily, keys, { label, format: money, axis });

  const toggle = h("div", { class: "tabs", role: "group" },
    ["assistant", "model"].map((option) =>
      h("a", { href: `#/costs?groupBy=${option}`, class: option === groupBy ? "active" : null, id: `group-by-${option}` }, `By ${option}`)));
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, "Costs"), toggle),
    h("p", { class: "summary" },
      h("strong", { id: "total-cost" }, money(report.totalCost)),
      ` over ${report.totalChats} chats, ${report.startDate} to ${report.endDate} (UTC days)`),
    h("figure", { class: "card", id: "cost-chart" }, chart,
      h("figcaption", { class: "legend" }, keys.map((key) =>
        h("span", { class: "legend-item" }, swatch(colour.get(key)), label(key))))),
    h("table", { class: "list", id: "cost-totals" },
      h("thead", {}, h("tr", {}, h("th", {}, groupBy === "assistant" ? "Assistant" : "Model"), h("th", { class: "number" }, "Chats"), h("th", { class: "number" }, "Cost"))),
      h("tbody", {}, report.groups.map((group) =>
        h("tr", {}, h("td", {}, label(group.key)), h("td", { class: "number" }, group.chats), h("td", { class: "number" }, money(group.cost))))),
      h("tfoot", {}, h("tr", {}, h("th", {}, "Total"), h("th", { class: "number" }, report.totalChats), h("th", { class: "number" }, money(report.totalCost))))));
}
