// Playground: chat with an assistant, streamed token by token, in a new or an existing session, with
// the prompt's {{ variables }} filled in. After each turn the stored chat shows its tool calls, model,
// tokens and cost.

import { api, streamChat } from "../api.js";
import { h, replace, shortId, when } from "../dom.js";
import { messageView, turnSummary } from "./messages.js";

// Variables chatloom fills in itself (Vapi's defaults).
const BUILT_IN = new Set(["now", "date", "time", "month", "day", "year", "customer", "transport"]);

export function variablesOf(assistant) {
  const names = new Set();
  for (const message of assistant?.model?.messages || []) {
    for (const match of String(message.content || "").matchAll(/\{\{-?\s*([A-Za-z_]\w*)/g)) {
      if (!BUILT_IN.has(match[1])) names.add(match[1]);
    }
  }
  for (const match of String(assistant?.firstMessage || "").matchAll(/\{\{-?\s*([A-Za-z_]\w*)/g)) {
    if (!BUILT_IN.has(match[1])) names.add(match[1]);
  }
  return [...names];
}

export async function render(main, route, { go }) {
  const assistants = await api.get("/assistant", { limit: 1000 });
  const chosen = route.params.get("assistant") || assistants[0]?.id || "";
  const sessionId = route.params.get("session");
  if (!assistants.length) {
    replace(main, h("h1", {}, "Playground"), h("p", { class: "empty" }, "Create an assistant first: ", h("a", { href: "#/assistants/new" }, "new assistant"), "."));
    return;
  }
  const assistant = assistants.find((item) => item.id === chosen) || assistants[0];
  const picker = h("select", { id: "playground-assistant" },
    assistants.map((item) => h("option", { value: item.id, selected: item.id === assistant.id }, item.name || shortId(item.id))));
  picker.addEventListener("change", () => go(`#/playground?assistant=${picker.value}`));

  const variableInputs = variablesOf(assistant).map((name) =>
    h("div", { class: "field" }, h("label", { for: `var-${name}` }, name), h("input", { id: `var-${name}`, dataset: { variable: name } })));
  const sessions = await api.get("/session", { assistantId: assistant.id, limit: 20 });
  const sessionPicker = h("select", { id: "playground-session" },
    h("option", { value: "" }, "New session"),
    sessions.results.map((session) =>
      h("option", { value: session.id, selected: session.id === sessionId }, `${session.name || shortId(session.id)} · ${when(session.createdAt)}`)));
  sessionPicker.addEventListener("change", () =>
    go(`#/playground?assistant=${assistant.id}${sessionPicker.value ? `&session=${sessionPicker.value}` : ""}`));

  const log = h("div", { class: "conversation", id: "conversation", "aria-live": "polite" });
  const input = h("textarea", { id: "playground-input", rows: 3, placeholder: "Say something… (Enter sends, Shift+Enter for a new line)" });
  const send = h("button", { type: "submit", id: "playground-send" }, "Send");
  const problem = h("p", { class: "error", role: "alert", id: "playground-error" });
  const state = { sessionId: sessionId || null };

  if (state.sessionId) {
    const session = await api.get(`/session/${encodeURIComponent(state.sessionId)}`);
    for (const message of session.messages || []) log.append(messageView(message));
    for (const element of variableInputs) element.querySelector("input").disabled = true;
  }

  async function ensureSession() {
    if (state.sessionId) return state.sessionId;
    const variableValues = {};
    for (const element of main.querySelectorAll("[data-variable]")) {
      if (element.value !== "") variableValues[element.dataset.variable] = element.value;
    }
    const body = { assistantId: assistant.id, name: "playground" };
    if (Object.keys(variableValues).length) body.assistantOverrides = { variableValues };
    const session = await api.post("/session", body);
    state.sessionId = session.id;
    history.replaceState(null, "", `#/playground?assistant=${assistant.id}&session=${session.id}`);
    sessionPicker.options[0].after(h("option", { value: session.id, selected: true }, `${session.name} · ${when(session.createdAt)}`));
    for (const element of main.querySelectorAll("[data-variable]")) element.disabled = true;
    return session.id;
  }

  async function turn(text) {
    problem.textContent = "";
    log.append(messageView({ role: "user", content: text }));
    const reply = h("div", { class: "text streaming" });
    const turnBox = h("div", { class: "turn" }, h("div", { class: "message assistant" }, h("div", { class: "role" }, "assistant"), h("div", { class: "body" }, reply)));
    log.append(turnBox);
    let chatId;
    try {
      const sessionForTurn = await ensureSession();
      chatId = await streamChat({ sessionId: sessionForTurn, input: text }, (frame) => {
        if (typeof frame.delta === "string") {
          reply.textContent += frame.delta;
          log.scrollTop = log.scrollHeight;
        }
      });
    } finally {
      reply.classList.remove("streaming");
    }
    if (!chatId) return;
    const chat = await api.get(`/chat/${encodeURIComponent(chatId)}`);
    replace(turnBox, (chat.output || []).map(messageView),
      h("p", { class: "turn-meta muted small", dataset: { chatId: chat.id } }, turnSummary(chat), " · ", h("a", { href: `#/chats/${chat.id}` }, "transcript")));
  }

  const form = h("form", { class: "composer", id: "playground-form" }, input, send);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send.disabled = true;
    try {
      await turn(text);
    } catch (error) {
      if (error.status === 401) throw error;
      problem.textContent = error.message;
    } finally {
      send.disabled = false;
      input.focus();
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  replace(
    main,
    h("div", { class: "heading" }, h("h1", {}, "Playground"),
      h("div", { class: "actions" }, h("a", { class: "button secondary", href: `#/assistants/${assistant.id}` }, "Edit assistant"))),
    h("div", { class: "playground" },
      h("aside", { class: "card settings" },
        h("div", { class: "field" }, h("label", { for: "playground-assistant" }, "Assistant"), picker),
        h("div", { class: "field" }, h("label", { for: "playground-session" }, "Session"), sessionPicker),
        variableInputs.length ? h("h2", {}, "Variables") : null,
        variableInputs,
        variableInputs.length ? h("p", { class: "muted small" }, "Filled in when a new session starts.") : null),
      h("section", { class: "card chat" }, log, problem, form)),
  );
}
