// The console's shell: the sign-in gate, the navigation and a hash router (the URL names views and ids
// only; the API key never appears in it).

import { keyStore, whenUnauthorized } from "./api.js";
import { h, replace } from "./dom.js";
import * as assistants from "./views/assistants.js";
import * as chats from "./views/chats.js";
import * as costs from "./views/costs.js";
import * as documents from "./views/documents.js";
import * as files from "./views/files.js";
import * as playground from "./views/playground.js";
import * as signin from "./views/signin.js";
import * as transcript from "./views/transcript.js";

const app = document.getElementById("app");

const SECTIONS = [
  { path: "assistants", label: "Assistants", view: assistants },
  { path: "playground", label: "Playground", view: playground },
  { path: "chats", label: "Chats", view: chats },
  { path: "sessions", label: "Sessions", view: transcript },
  ...documents.COLLECTIONS.map((collection) => ({
    path: collection.path,
    label: collection.title,
    view: documents.viewOf(collection),
  })),
  { path: "files", label: "Files", view: files },
  { path: "costs", label: "Costs", view: costs },
];

/** The current route: `#/chats/abc?assistantId=x` → {section: "chats", id: "abc", params}. */
export function currentRoute() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [section = "", id = null] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { section, id, params: new URLSearchParams(query) };
}

export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function signOut(message) {
  keyStore.clear();
  render(message);
}

function navigation(active) {
  return h(
    "header",
    { class: "top" },
    h("a", { class: "brand", href: "#/assistants" }, "chatloom"),
    h(
      "nav",
      {},
      SECTIONS.filter((section) => section.label).map((section) =>
        h(
          "a",
          { href: `#/${section.path}`, class: section.path === active ? "active" : null },
          section.label,
        ),
      ),
    ),
    h("button", { class: "link", id: "sign-out", type: "button", onclick: () => signOut() }, "Sign out"),
  );
}

let generation = 0;

async function render(notice) {
  const mine = ++generation;
  if (!keyStore.get()) {
    replace(app, signin.render(notice, () => go(location.hash && location.hash !== "#/" ? location.hash : "#/assistants")));
    return;
  }
  const route = currentRoute();
  const section = SECTIONS.find((candidate) => candidate.path === route.section);
  if (!section) {
    location.replace("#/assistants");
    return;
  }
  const main = h("main", { id: "view", dataset: { view: section.path } });
  replace(app, navigation(section.path), main);
  try {
    await section.view.render(main, route, { go, isCurrent: () => mine === generation });
  } catch (error) {
    if (mine === generation && error?.status !== 401) {
      main.append(h("p", { class: "error", role: "alert" }, error.message || String(error)));
    }
  }
}

whenUnauthorized((error) => signOut(`Signed out: ${error.message}`));
window.addEventListener("hashchange", () => render());
render();
