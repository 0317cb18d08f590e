// Assistants: the list; create from a blank form or a pasted Vapi assistant JSON; edit the prompt and
// model settings, or the raw JSON; delete. Every message shown comes from the API.

import { api, ApiError } from "../api.js";
import { h, pretty, replace, shortId, when, withoutStoredFields } from "../dom.js";
import { clearErrors, field, showErrors } from "./forms.js";

export const PROVIDERS = [
  "openai", "anthropic", "google", "groq", "together-ai", "deepinfra", "openrouter", "perplexity-ai",
  "anyscale", "deepseek", "xai", "cerebras", "mistral", "custom-llm",
];

export async function render(main, route, { go }) {
  if (route.id === "new") return renderEditor(main, null, route.params.get("from") === "json" ? "import" : "form", go);
  if (route.id) return renderEditor(main, await api.get(`/assistant/${encodeURIComponent(route.id)}`), route.params.get("tab") || "form", go);
  return renderList(main, go);
}

async function renderList(main, go) {
  const list = await api.get("/assistant", { limit: 1000 });
  const rows = list.map((assistant) => {
    const remove = h("button", { type: "button", class: "danger small" }, "Delete");
    remove.addEventListener("click", async () => {
      if (remove.dataset.armed !== "yes") {
        remove.dataset.armed = "yes";
        remove.textContent = "Really delete?";
        return;
      }
      await api.delete(`/assistant/${encodeURIComponent(assistant.id)}`);
      go("#/assistants");
    });
    return h(
      "tr",
      { dataset: { id: assistant.id } },
      h("td", {}, h("a", { href: `#/assistants/${assistant.id}` }, assistant.name || "(unnamed)")),
      h("td", {}, assistant.model ? `${assistant.model.provider} · ${assistant.model.model}` : "—"),
      h("td", { class: "muted", title: assistant.id }, shortId(assistant.id)),
      h("td", { class: "muted" }, when(assistant.updatedAt)),
      h("td", { class: "actions" }, h("a", { class: "button small", href: `#/playground?assistant=${assistant.id}` }, "Try"), remove),
    );
  });
  replace(
    main,
    h(
      "div",
      { class: "heading" },
      h("h1", {}, "Assistants"),
      h("div", { class: "actions" },
        h("a", { class: "button", href: "#/assistants/new", id: "new-assistant" }, "New assistant"),
        h("a", { class: "button secondary", href: "#/assistants/new?from=json", id: "import-assistant" }, "Paste Vapi JSON")),
    ),
    rows.length
      ? h("table", { class: "list", id: "assistant-list" },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Model"), h("th", {}, "Id"), h("th", {}, "Updated"), h("th", {}))),
          h("tbody", {}, rows))
      : h("p", { class: "empty" }, "No assistants yet. Create one from a blank form or paste a Vapi assistant's JSON."),
  );
}

function systemPrompt(model) {
  const message = (model?.messages || []).find((item) => item.role === "system");
  return message ? message.content ?? "" : "";
}

/** The number a form field holds, or its text when it is not one (so the API names the problem). */
function numberOrText(value) {
  const text = value.trim();
  if (text === "") return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

function formFields(assistant) {
  const model = assistant?.model || {};
  const control = (tag, id, fieldName, attrs = {}, children = []) =>
    h(tag, { id, name: id, dataset: { field: fieldName }, ...attrs }, children);
  const provider = control("select", "provider", "model.provider", {},
    PROVIDERS.map((name) => h("option", { value: name, selected: (model.provider || "openai") === name }, name)));
  const controls = {
    name: control("input", "name", "name", { value: assistant?.name || "", maxlength: "40" }),
    provider,
    model: control("input", "model", "model.model", { value: model.model || "gpt-4o-mini" }),
    prompt: control("textarea", "prompt", "model.messages", { rows: 8 }),
    temperature: control("input", "temperature", "model.temperature", { value: model.temperature ?? "", inputmode: "decimal" }),
    maxTokens: control("input", "max-tokens", "model.maxTokens", { value: model.maxTokens ?? "", inputmode: "numeric" }),
    firstMessage: control("input", "first-message", "firstMessage", { value: assistant?.firstMessage || "" }),
  };
  controls.prompt.value = systemPrompt(model);
  return controls;
}

function fromForm(assistant, controls) {
  const model = { ...(assistant?.model || {}) };
  model.provider = controls.provider.value;
  model.model = controls.model.value.trim();
  const others = (model.messages || []).filter((item) => item.role !== "system");
  const prompt = controls.prompt.value;
  model.messages = prompt ? [{ role: "system", content: prompt }, ...others] : others;
  for (const [key, control] of [["temperature", controls.temperature], ["maxTokens", controls.maxTokens]]) {
    const value = numberOrText(control.value);
    if (value === undefined) delete model[key];
    else model[key] = value;
  }
  const body = { model };
  const name = controls.name.value.trim();
  if (name || assistant?.name) body.name = name || null;
  const firstMessage = controls.firstMessage.value;
  if (firstMessage || assistant?.firstMessage) body.firstMessage = firstMessage || null;
  return body;
}

async function save(assistant, body) {
  if (assistant) return api.patch(`/assistant/${encodeURIComponent(assistant.id)}`, body);
  return api.post("/assistant", body);
}

function renderEditor(main, assistant, tab, go) {
  const title = assistant ? assistant.name || "(unnamed assistant)" : tab === "import" ? "Create from Vapi JSON" : "New assistant";
  const tabs = assistant
    ? h("nav", { class: "tabs" },
        h("a", { href: `#/assistants/${assistant.id}`, class: tab === "form" ? "active" : null }, "Settings"),
        h("a", { href: `#/assistants/${assistant.id}?tab=json`, class: tab === "json" ? "active" : null, id: "json-tab" }, "JSON"))
    : null;
  const status = h("p", { class: "status", role: "status", id: "save-status" });
  const form = h("form", { class: "card editor", id: "assistant-form", novalidate: true });
  let collect;
  if (tab === "form") {
    const controls = formFields(assistant);
    form.append(
      field("Name", controls.name),
      h("div", { class: "row" }, field("Provider", controls.provider), field("Model", controls.model)),
      field("System prompt", controls.prompt, "Use {{ variable }} for values filled in per chat (variableValues)."),
      h("div", { class: "row" }, field("Temperature", controls.temperature, "0 to 2"), field("Max tokens", controls.maxTokens)),
      field("First message", controls.firstMessage),
    );
    collect = () => fromForm(assistant, controls);
  } else {
    const text = h("textarea", { id: "assistant-json", class: "code", rows: 24, spellcheck: "false", dataset: { field: "" } });
    text.value = assistant ? pretty(withoutStoredFields(assistant)) : "";
    if (!assistant) text.placeholder = '{"name": "Support", "model": {"provider": "openai", "model": "gpt-4o-mini", "messages": [...]}}';
    form.append(
      h("p", { class: "muted" }, assistant
        ? "The assistant as JSON. Saving replaces each top-level field given here."
        : "Paste an assistant exported from Vapi (or any CreateAssistantDTO). Voice-only settings are kept as they are."),
      text,
    );
    collect = () => {
      try {
        return withoutStoredFields(JSON.parse(text.value));
      } catch (error) {
        throw new ApiError(400, [`Not valid JSON: ${error.message}`]);
      }
    };
  }
  const submit = h("button", { type: "submit", id: "save-assistant" }, assistant ? "Save" : "Create assistant");
  form.append(h("div", { class: "form-errors" }), h("div", { class: "actions" }, submit, status));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.textContent = "";
    submit.disabled = true;
    try {
      const saved = await save(assistant, collect());
      if (assistant) {
        status.textContent = "Saved.";
        Object.assign(assistant, saved);
      } else {
        go(`#/assistants/${saved.id}`);
      }
    } catch (error) {
      if (error.status === 401) throw error;
      showErrors(form, error);
    } finally {
      submit.disabled = false;
    }
  });
  replace(
    main,
    h("div", { class: "heading" }, h("h1", {}, title),
      assistant ? h("div", { class: "actions" },
        h("a", { class: "button", href: `#/playground?assistant=${assistant.id}` }, "Open in playground"),
        h("a", { class: "button secondary", href: `#/chats?assistantId=${assistant.id}` }, "Chats")) : null),
    assistant ? h("p", { class: "muted small" }, "Id ", h("code", { id: "assistant-id" }, assistant.id)) : null,
    tabs,
    form,
  );
}
