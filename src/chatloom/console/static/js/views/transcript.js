// One chat or one session as a readable transcript, with its costs.

import { api } from "../api.js";
import { h, money, replace, shortId, when } from "../dom.js";
import { costsView, messageView, turnSummary } from "./messages.js";

export async function renderChat(main, chatId) {
  const chat = await api.get(`/chat/${encodeURIComponent(chatId)}`);
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
      chat.assistantId ? [h("dt", {}, "Assistant"), h("dd", {}, h("a", { href: `#/assistants/${chat.assistantId}` }, chat.assistantId))] : null,
      chat.previousChatId ? [h("dt", {}, "Previous chat"), h("dd", {}, h("a", { href: `#/chats/${chat.previousChatId}` }, chat.previousChatId))] : null,
      h("dt", {}, "Turn"), h("dd", {}, turnSummary(chat))),
    history.length
      ? h("details", { class: "history" }, h("summary", {}, `Earlier messages (${history.length})`), h("div", { class: "conversation" }, history.map(messageView)))
      : null,
    h("div", { class: "conversation transcript", id: "transcript" }, input.map(messageView), (chat.output || []).map(messageView)),
    h("h2", {}, "Cost"),
    costsView(chat));
}

export async function render(main, route) {
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
    h("h2", {}, "Turns"),
    h("table", { class: "list" },
      h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Model, tokens and cost"))),
      h("tbody", {}, turns.results.map((chat) =>
        h("tr", {}, h("td", {}, h("a", { href: `#/chats/${chat.id}` }, when(chat.createdAt))), h("td", {}, turnSummary(chat)))))));
}
