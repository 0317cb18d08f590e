// One chat or one session as a readable transcript, with its costs (and a session's structured outputs
// once they were extracted).

import { api } from "../api.js";
import { h, money, replace, shortId, when } from "../dom.js";
import { costsView, messageView, turnSummary } from "./messages.js";
import { artifactView } from "./outputs.js";

export async function renderChat(main, chatId) {
  const chat = await api.get(`/chat/${encodeURIComponent(chatId)}`);
  // The assistant may have been deleted since: the transcript then names it by id.
  const assistant = chat.assistantId ? await api.get(`/assistant/${encodeURIComponent(chat.assistantId)}`).catch(() => null) : null;
  const input = typeof chat.input === "string" ? [{ role: "user", content: chat.input }] : chat.input || [];
  const history = (chat.messages || []).slice(0, Math.max(0, (chat.messages || []).length - input.length));
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, "Chat ", h("code", {}, shortId(chat.id))),
      h("div", { class: "actions" },
        chat.sessionId ? h("a", { class: "button secondary", href: `#/sessions/${chat.sessionId}` }, "Session") : null,
        chat.assistantId ? h("a", { class: "button secondary", href: `#/playground?assistant=${chat.assistantId}${chat.sessionId ? `&session=${chat.sessionId}` : ""}` }, "Continue in playground") : null)),
    h("dl", { class: "facts" },
      h("dt", {}, "Id"), h("dd", {}, h("code", {}, chat.id)),
      h("dt", {}, "Created"), h("dd", {}, when(chat.createdAt)),
      chat.assistantId ? [h("dt", {}, "Assistant"), h("dd", {}, h("a", { href: `#/assistants/${chat.assistantId}` }, assistant?.name || chat.assistantId))] : null,
      chat.previousChatId ? [h("dt", {}, "Previous chat"), h("dd", {}, h("a", { href: `#/chats/${chat.previousChatId}` }, chat.previousChatId))] : null,
      h("dt", {}, "Turn"), h("dd", {}, turnSummary(chat))),
    history.length
      ? h("details", { class: "history" }, h("summary", {}, `Earlier messages (${history.length})`), h("div", { class: "conversation" }, history.map(messageView)))
      : null,
    h("div", { class: "conversation transcript", id: "transcript" }, input.map(messageView), (chat.output || []).map(messageView)),
    h("h2", {}, "Cost"),
    costsView(chat));
}

const PAGE_SIZE = 20;

async function renderSessions(main, params, go) {
  const page = Math.max(1, Number(params.get("page") || 1));
  const assistants = await api.get("/assistant", { limit: 1000 });
  const names = new Map(assistants.map((item) => [item.id, item.name || shortId(item.id)]));
  const listing = await api.get("/session", { assistantId: params.get("assistantId"), limit: PAGE_SIZE, page });
  const assistant = h("select", { id: "session-filter-assistant" },
    h("option", { value: "" }, "Any assistant"),
    assistants.map((item) => h("option", { value: item.id, selected: item.id === params.get("assistantId") }, names.get(item.id))));
  const hashFor = (pageNumber) => {
    const query = new URLSearchParams();
    if (assistant.value) query.set("assistantId", assistant.value);
    if (pageNumber > 1) query.set("page", String(pageNumber));
    const text = query.toString();
    return text ? `#/sessions?${text}` : "#/sessions";
  };
  assistant.addEventListener("change", () => go(hashFor(1)));
  const meta = listing.metadata;
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, "Sessions")),
    h("div", { class: "filters" }, h("label", {}, "Assistant ", assistant)),
    listing.results.length
      ? h("table", { class: "list", id: "session-list" },
          h("thead", {}, h("tr", {}, h("th", {}, "Created"), h("th", {}, "Name"), h("th", {}, "Assistant"), h("th", {}, "Status"), h("th", { class: "number" }, "Messages"), h("th", { class: "number" }, "Cost"))),
          h("tbody", {}, listing.results.map((session) =>
            h("tr", { dataset: { id: session.id } },
              h("td", {}, h("a", { href: `#/sessions/${session.id}` }, when(session.createdAt))),
              h("td", {}, session.name || ""),
              h("td", {}, session.assistantId ? names.get(session.assistantId) || shortId(session.assistantId) : "inline"),
              h("td", {}, session.status || ""),
              h("td", { class: "number" }, (session.messages || []).length),
              h("td", { class: "number" }, money(session.cost))))))
      : h("p", { class: "empty" }, "No sessions match."),
    h("div", { class: "pager" },
      page > 1 ? h("a", { class: "button secondary small", href: hashFor(page - 1) }, "← Newer") : null,
      h("span", { class: "muted" }, `Page ${meta.currentPage} of ${Math.max(1, meta.totalPages)} · ${meta.totalItems} sessions`),
      meta.hasNextPage ? h("a", { class: "button secondary small", href: hashFor(page + 1) }, "Older →") : null));
}

export async function render(main, route, { go }) {
  if (!route.id) return renderSessions(main, route.params, go);
  const session = await api.get(`/session/${encodeURIComponent(route.id)}`);
  const turns = await api.get("/chat", { sessionId: session.id, limit: 100, sortOrder: "ASC" });
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, "Session ", h("code", {}, session.name || shortId(session.id))),
      h("div", { class: "actions" },
        session.assistantId ? h("a", { class: "button", href: `#/playground?assistant=${session.assistantId}&session=${session.id}` }, "Continue in playground") : null,
        h("a", { class: "button secondary", href: `#/chats?sessionId=${session.id}` }, "Its chats"))),
    h("dl", { class: "facts" },
      h("dt", {}, "Id"), h("dd", {}, h("code", {}, session.id)),
      h("dt", {}, "Status"), h("dd", {}, session.status || ""),
      h("dt", {}, "Created"), h("dd", {}, when(session.createdAt)),
      h("dt", {}, "Cost"), h("dd", { class: "session-cost" }, money(session.cost))),
    h("div", { class: "conversation transcript", id: "transcript" }, (session.messages || []).map(messageView)),
    artifactView(session.artifact),
    h("h2", {}, "Turns"),
    h("table", { class: "list" },
      h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Model, tokens and cost"))),
      h("tbody", {}, turns.results.map((chat) =>
        h("tr", {}, h("td", {}, h("a", { href: `#/chats/${chat.id}` }, when(chat.createdAt))), h("td", {}, turnSummary(chat)))))));
}
