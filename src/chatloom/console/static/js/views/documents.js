// Stored documents edited as JSON: tools, squads and structured outputs. Each collection is one entry of
// COLLECTIONS; `paged` ones answer `{results, metadata}`, `retryWith(error)` may offer to save again with a
// query, and `panel({saved, read})` adds a card under the editor.

import { api, ApiError } from "../api.js";
import { h, pretty, replace, shortId, when, withoutStoredFields } from "../dom.js";
import { clearErrors, showErrors } from "./forms.js";
import { schemaOverrideRetry, tryPanel } from "./outputs.js";

export const COLLECTIONS = [
  {
    path: "tools",
    title: "Tools",
    noun: "tool",
    api: "/tool",
    summary: (tool) => [tool.function?.name || tool.name || "(unnamed)", tool.type],
    template: {
      type: "function",
      function: { name: "get_weather", description: "The weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
      server: { url: "https://example.com/tools" },
    },
  },
  {
    path: "squads",
    title: "Squads",
    noun: "squad",
    api: "/squad",
    summary: (squad) => [squad.name || "(unnamed)", `${(squad.members || []).length} members`],
    template: {
      name: "Front desk",
      members: [{ assistantId: "<the first assistant's id>" }, { assistantId: "<another assistant's id>" }],
    },
  },
  {
    path: "structured-outputs",
    title: "Structured outputs",
    noun: "structured output",
    key: "structured-output",
    api: "/structured-output",
    paged: true,
    summary: (output) => [output.name || "(unnamed)", output.type || "ai"],
    template: {
      name: "caller",
      description: "Who the customer is",
      schema: { type: "object", properties: { name: { type: "string" }, email: { type: "string" } }, required: ["name"] },
    },
    retryWith: schemaOverrideRetry,
    panel: tryPanel,
  },
];

const PAGED_LIMIT = 100;

function keyOf(collection) {
  return collection.key ?? collection.noun;
}

function parsed(text) {
  try {
    return withoutStoredFields(JSON.parse(text));
  } catch (error) {
    throw new ApiError(400, [`Not valid JSON: ${error.message}`]);
  }
}

export function viewOf(collection) {
  return {
    render: (main, route, context) =>
      route.id ? renderEditor(main, collection, route.id, context) : renderList(main, collection),
  };
}

async function renderList(main, collection) {
  const answer = await api.get(collection.api, { limit: collection.paged ? PAGED_LIMIT : 1000 });
  const documents = collection.paged ? answer.results : answer;
  const more = collection.paged && answer.metadata?.totalItems > documents.length
    ? h("p", { class: "muted small" }, `The ${documents.length} most recent of ${answer.metadata.totalItems}.`)
    : null;
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, collection.title),
      h("div", { class: "actions" }, h("a", { class: "button", href: `#/${collection.path}/new` }, `New ${collection.noun}`))),
    documents.length
      ? h("table", { class: "list", id: `${collection.path}-list` },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "Id"), h("th", {}, "Updated"))),
          h("tbody", {}, documents.map((document) => {
            const [name, kind] = collection.summary(document);
            return h("tr", { dataset: { id: document.id } },
              h("td", {}, h("a", { href: `#/${collection.path}/${document.id}` }, name)),
              h("td", {}, kind || ""),
              h("td", { class: "muted", title: document.id }, shortId(document.id)),
              h("td", { class: "muted" }, when(document.updatedAt)));
          })))
      : h("p", { class: "empty" }, `No ${collection.noun}s yet.`),
    more);
}

async function renderEditor(main, collection, id, { go }) {
  const existing = id === "new" ? null : await api.get(`${collection.api}/${encodeURIComponent(id)}`);
  const text = h("textarea", { id: `${keyOf(collection)}-json`, class: "code", rows: 24, spellcheck: "false" });
  text.value = pretty(existing ? withoutStoredFields(existing) : collection.template);
  const status = h("p", { class: "status", role: "status" });
  const save = h("button", { type: "submit" }, existing ? "Save" : `Create ${collection.noun}`);
  const remove = existing ? h("button", { type: "button", class: "danger" }, "Delete") : null;
  const form = h("form", { class: "card editor", novalidate: true }, text, h("div", { class: "form-errors" }),
    h("div", { class: "actions" }, save, remove, status));
  const submit = async (query) => {
    clearErrors(form);
    status.textContent = "";
    try {
      const body = parsed(text.value);
      if (existing) {
        Object.assign(existing, await api.patch(`${collection.api}/${encodeURIComponent(existing.id)}`, body, query));
        status.textContent = "Saved.";
      } else {
        const created = await api.post(collection.api, body);
        go(`#/${collection.path}/${created.id}`);
      }
    } catch (error) {
      if (error.status === 401) throw error;
      showErrors(form, error);
      const retry = existing && !query ? collection.retryWith?.(error) : null;
      if (retry) {
        form.querySelector(".form-errors").append(h("p", { class: "actions" },
          h("button", { type: "button", class: "secondary", id: "save-retry", onclick: () => submit(retry.query) }, retry.label)));
      }
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  remove?.addEventListener("click", async () => {
    if (remove.dataset.armed !== "yes") {
      remove.dataset.armed = "yes";
      remove.textContent = "Really delete?";
      return;
    }
    try {
      await api.delete(`${collection.api}/${encodeURIComponent(existing.id)}`);
      go(`#/${collection.path}`);
    } catch (error) {
      if (error.status === 401) throw error;
      showErrors(form, error);
    }
  });
  const read = () => {
    const body = parsed(text.value);
    const unchanged = existing !== null && JSON.stringify(body) === JSON.stringify(withoutStoredFields(existing));
    return { body, unchanged };
  };
  const panel = collection.panel ? await collection.panel({ saved: existing, read }) : null;
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, existing ? collection.summary(existing)[0] : `New ${collection.noun}`)),
    existing ? h("p", { class: "muted small" }, "Id ", h("code", { id: `${keyOf(collection)}-id` }, existing.id)) : null,
    form,
    panel);
}
