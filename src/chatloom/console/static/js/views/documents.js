// Stored documents edited as JSON: tools and squads. Each collection is one entry of COLLECTIONS.

import { api, ApiError } from "../api.js";
import { h, pretty, replace, shortId, when, withoutStoredFields } from "../dom.js";
import { clearErrors, showErrors } from "./forms.js";

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
];

export function viewOf(collection) {
  return {
    render: (main, route, context) =>
      route.id ? renderEditor(main, collection, route.id, context) : renderList(main, collection),
  };
}

async function renderList(main, collection) {
  const documents = await api.get(collection.api, { limit: 1000 });
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
      : h("p", { class: "empty" }, `No ${collection.noun}s yet.`));
}

async function renderEditor(main, collection, id, { go }) {
  const existing = id === "new" ? null : await api.get(`${collection.api}/${encodeURIComponent(id)}`);
  const text = h("textarea", { id: `${collection.noun}-json`, class: "code", rows: 24, spellcheck: "false" });
  text.value = pretty(existing ? withoutStoredFields(existing) : collection.template);
  const status = h("p", { class: "status", role: "status" });
  const save = h("button", { type: "submit" }, existing ? "Save" : `Create ${collection.noun}`);
  const remove = existing ? h("button", { type: "button", class: "danger" }, "Delete") : null;
  const form = h("form", { class: "card editor", novalidate: true }, text, h("div", { class: "form-errors" }),
    h("div", { class: "actions" }, save, remove, status));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.textContent = "";
    try {
      let body;
      try {
        body = withoutStoredFields(JSON.parse(text.value));
      } catch (error) {
        throw new ApiError(400, [`Not valid JSON: ${error.message}`]);
      }
      if (existing) {
        await api.patch(`${collection.api}/${encodeURIComponent(existing.id)}`, body);
        status.textContent = "Saved.";
      } else {
        const created = await api.post(collection.api, body);
        go(`#/${collection.path}/${created.id}`);
      }
    } catch (error) {
      if (error.status === 401) throw error;
      showErrors(form, error);
    }
  });
  remove?.addEventListener("click", async () => {
    if (remove.dataset.armed !== "yes") {
      remove.dataset.armed = "yes";
      remove.textContent = "Really delete?";
      return;
    }
    await api.delete(`${collection.api}/${encodeURIComponent(existing.id)}`);
    go(`#/${collection.path}`);
  });
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, existing ? collection.summary(existing)[0] : `New ${collection.noun}`)),
    existing ? h("p", { class: "muted small" }, "Id ", h("code", {}, existing.id)) : null,
    form);
}
