// Sign in with an API key: checked with a cheap authenticated call, kept in this tab's sessionStorage.

import { checkKey, keyStore } from "../api.js";
import { h } from "../dom.js";

export function render(notice, signedIn) {
  const input = h("input", {
    id: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "cl_…",
    required: true,
  });
  const message = h("p", { class: "error", id: "sign-in-error", role: "alert" }, notice || "");
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card sign-in", id: "sign-in" },
    h("h1", {}, "chatloom console"),
    h("p", { class: "muted" }, "Paste an API key (create one with ", h("code", {}, "chatloom keys create --org my-org"), ")."),
    h("label", { for: "api-key" }, "API key"),
    input,
    button,
    message,
    h("p", { class: "muted small" }, "The key stays in this browser tab only and is forgotten when the tab closes."),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    message.textContent = "";
    try {
      await checkKey(key);
      keyStore.set(key);
      signedIn();
    } catch (error) {
      message.textContent = error.status === 401 ? `Refused: ${error.message}` : `Could not sign in: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  queueMicrotask(() => input.focus());
  return h("div", { class: "centered" }, form);
}
