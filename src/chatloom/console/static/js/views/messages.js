// Renders chat messages as a readable transcript: roles, text, tool calls and their results folded
// (open on click), and a chat's model costs.

import { h, money, pretty, textOf } from "../dom.js";

function argumentsOf(call) {
  const raw = call?.function?.arguments;
  if (typeof raw !== "string") return pretty(raw ?? {});
  try {
    return pretty(JSON.parse(raw));
  } catch {
    return raw;
  }
}

export function messageView(message) {
  const role = message.role || "message";
  const body = [];
  const text = textOf(message.content ?? message.message);
  if (role === "tool") {
    body.push(
      h("details", { class: "tool-result" },
        h("summary", {}, "Result", message.name ? ` of ${message.name}` : "", message.tool_call_id ? h("span", { class: "muted" }, ` · ${message.tool_call_id}`) : null),
        h("pre", {}, text)),
    );
  } else if (text) {
    body.push(h("div", { class: "text" }, text));
  }
  for (const call of message.tool_calls || []) {
    body.push(
      h("details", { class: "tool-call" },
        h("summary", {}, "Tool call ", h("code", {}, call.function?.name ?? "?"), h("span", { class: "muted" }, ` · ${call.id}`)),
        h("pre", {}, argumentsOf(call))),
    );
  }
  return h("div", { class: `message ${role}` }, h("div", { class: "role" }, role), h("div", { class: "body" }, body));
}

export function costsView(chat) {
  const entries = chat.costs || [];
  const rows = entries.map((entry) =>
    h("tr", {},
      h("td", {}, entry.model ? `${entry.model.provider} · ${entry.model.model}` : entry.type),
      h("td", { class: "number" }, entry.promptTokens ?? ""),
      h("td", { class: "number" }, entry.completionTokens ?? ""),
      h("td", { class: "number" }, money(entry.cost))),
  );
  return h("table", { class: "costs" },
    h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", { class: "number" }, "Prompt tokens"), h("th", { class: "number" }, "Completion tokens"), h("th", { class: "number" }, "Cost"))),
    h("tbody", {}, rows),
    h("tfoot", {}, h("tr", {}, h("th", { colspan: "3" }, "Total"), h("th", { class: "number chat-cost" }, money(chat.cost)))));
}

/** One line about a stored turn: its model(s), tokens and cost. */
export function turnSummary(chat) {
  const entries = chat.costs || [];
  const models = [...new Set(entries.map((entry) => entry.model?.model).filter(Boolean))].join(", ") || "no model call";
  const prompt = entries.reduce((sum, entry) => sum + (entry.promptTokens || 0), 0);
  const completion = entries.reduce((sum, entry) => sum + (entry.completionTokens || 0), 0);
  return `${models} · ${prompt} prompt + ${completion} completion tokens · ${money(chat.cost)}`;
}
