// Chats: the list with the API's filters (assistant, session, time range) and paging.

import { api } from "../api.js";
import { h, money, replace, shortId, snippet, textOf, when } from "../dom.js";
import { renderChat } from "./transcript.js";

const PAGE_SIZE = 20;

function lastText(messages) {
  const list = Array.isArray(messages) ? messages : [];
  for (let index = list.length - 1; index >= 0; index -= 1) {
    const text = textOf(list[index].content);
    if (text) return text;
  }
  return "";
}

function inputText(chat) {
  return typeof chat.input === "string" ? chat.input : lastText(chat.input);
}

/** A `datetime-local` value as an ISO instant (the browser's time zone), or undefined. */
function instant(value) {
  if (!value) return undefined;
  const moment = new Date(value);
  return Number.isNaN(moment.getTime()) ? undefined : moment.toISOString();
}

export async function render(main, route, { go }) {
  if (route.id) return renderChat(main, route.id);
  const params = route.params;
  const page = Math.max(1, Number(params.get("page") || 1));
  const assistants = await api.get("/assistant", { limit: 1000 });
  const names = new Map(assistants.map((item) => [item.id, item.name || shortId(item.id)]));
  const listing = await api.get("/chat", {
    assistantId: params.get("assistantId"),
    sessionId: params.get("sessionId"),
    createdAtGe: instant(params.get("from")),
    createdAtLe: instant(params.get("to")),
    limit: PAGE_SIZE,
    page,
  });

  const assistant = h("select", { id: "filter-assistant", name: "assistantId" },
    h("option", { value: "" }, "Any assistant"),
    assistants.map((item) => h("option", { value: item.id, selected: item.id === params.get("assistantId") }, names.get(item.id))));
  const session = h("input", { id: "filter-session", name: "sessionId", placeholder: "session id", value: params.get("sessionId") || "" });
  const from = h("input", { id: "filter-from", name: "from", type: "datetime-local", value: params.get("from") || "" });
  const to = h("input", { id: "filter-to", name: "to", type: "datetime-local", value: params.get("to") || "" });
  const filters = h("form", { class: "filters", id: "chat-filters" },
    h("label", {}, "Assistant ", assistant), h("label", {}, "Session ", session),
    h("label", {}, "From ", from), h("label", {}, "To ", to),
    h("button", { type: "submit" }, "Filter"),
    h("a", { class: "button secondary", href: "#/chats" }, "Clear"));
  const hashFor = (pageNumber) => {
    const query = new URLSearchParams();
    for (const control of [assistant, session, from, to]) if (control.value) query.set(control.name, control.value);
    if (pageNumber > 1) query.set("page", String(pageNumber));
    const text = query.toString();
    return text ? `#/chats?${text}` : "#/chats";
  };
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    go(hashFor(1));
  });

  const rows = listing.results.map((chat) =>
    h("tr", { dataset: { id: chat.id } },
      h("td", {}, h("a", { href: `#/chats/${chat.id}` }, when(chat.createdAt))),
      h("td", {}, chat.assistantId ? names.get(chat.assistantId) || shortId(chat.assistantId) : "inline"),
      h("td", {}, chat.sessionId ? h("a", { href: `#/sessions/${chat.sessionId}` }, shortId(chat.sessionId)) : ""),
      h("td", {}, snippet(inputText(chat), 60)),
      h("td", {}, snippet(lastText(chat.output), 60)),
      h("td", { class: "number" }, money(chat.cost))));
  const meta = listing.metadata;
  const pager = h("div", { class: "pager" },
    page > 1 ? h("a", { class: "button secondary small", href: hashFor(page - 1), id: "previous-page" }, "← Newer") : null,
    h("span", { class: "muted" }, `Page ${meta.currentPage} of ${Math.max(1, meta.totalPages)} · ${meta.totalItems} chats`),
    meta.hasNextPage ? h("a", { class: "button secondary small", href: hashFor(page + 1), id: "next-page" }, "Older →") : null);

  replace(main,
    h("div", { class: "heading" }, h("h1", {}, "Chats")),
    filters,
    rows.length
      ? h("table", { class: "list", id: "chat-list" },
          h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Assistant"), h("th", {}, "Session"), h("th", {}, "Input"), h("th", {}, "Reply"), h("th", { class: "number" }, "Cost"))),
          h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No chats match."),
    pager);
}
