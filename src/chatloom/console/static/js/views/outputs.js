// Structured outputs: what documents.js needs beyond listing and editing them as JSON (the schemaOverride
// retry, "Try" on an existing session), and the results view the session transcript shares.

import { api } from "../api.js";
import { h, pretty, replace, shortId, when } from "../dom.js";
import { clearErrors, field, showErrors } from "./forms.js";

/** A refused PATCH that changed the schema's top-level type can be retried with `?schemaOverride=true`. */
export function schemaOverrideRetry(error) {
  if (error.status !== 400 || !error.messages.some((text) => text.includes("schemaOverride"))) return null;
  return { label: "Change the type anyway", query: { schemaOverride: "true" } };
}

function conditionText(condition) {
  if (condition?.type === "minMessages") return `needs at least ${condition.count} messages (minMessages)`;
  return JSON.stringify(condition);
}

function heading(id, name) {
  return h("h3", {}, name || "(unnamed)", " ", h("span", { class: "muted small", title: id }, shortId(id)));
}

/** Results by output id (`{name, result}`, null when the extraction failed) and skipped outputs
 * (`{name, unmetCondition}`). */
export function resultsView(results, skipped) {
  const done = Object.entries(results || {}).map(([id, { name, result }]) =>
    h("div", { class: "output-result", dataset: { id } },
      heading(id, name),
      result === null || result === undefined
        ? h("p", { class: "error failed" }, "failed: no valid result was extracted")
        : h("pre", {}, pretty(result))));
  const passed = Object.entries(skipped || {}).map(([id, { name, unmetCondition }]) =>
    h("div", { class: "output-result skipped", dataset: { id } },
      heading(id, name),
      h("p", { class: "muted" }, `skipped: ${conditionText(unmetCondition)}`)));
  return h("div", { class: "output-results" },
    done.length || passed.length ? [done, passed] : h("p", { class: "muted" }, "No result."));
}

/** A session's extracted structured outputs, or nothing when extraction has not run for it. */
export function artifactView(artifact) {
  const results = artifact?.structuredOutputs || {};
  const skipped = artifact?.skippedStructuredOutputs || {};
  if (!Object.keys(results).length && !Object.keys(skipped).length) return null;
  return h("section", { id: "session-outputs" },
    h("h2", {}, "Structured outputs"),
    artifact.structuredOutputsLastUpdatedAt
      ? h("p", { class: "muted small" }, `Extracted ${when(artifact.structuredOutputsLastUpdatedAt)}`)
      : null,
    resultsView(results, skipped));
}

function sessionLabel(session) {
  return `${session.name || "(unnamed)"} · ${shortId(session.id)} · ${when(session.createdAt)}`;
}

/**
 * "Try": runs the output on one existing session as a preview (`POST /structured-output/run` with
 * `previewEnabled`), saving nothing. `read()` gives the editor's JSON and whether it is the saved output
 * unchanged: then it is run by id, otherwise as an inline definition.
 */
export async function tryPanel({ saved, read }) {
  const listing = await api.get("/session", { limit: 50 });
  const sessions = listing.results;
  const session = h("select", { id: "try-session", dataset: { field: "sessionIds" } },
    sessions.map((item) => h("option", { value: item.id }, sessionLabel(item))));
  const button = h("button", { type: "submit", id: "try-output" }, "Try");
  const result = h("div", { id: "try-result", "aria-live": "polite" });
  const form = h("form", { class: "card try", id: "try-form", novalidate: true },
    h("h2", {}, "Try on a session"),
    h("p", { class: "muted small" },
      "Extracts the output as it is in the editor from one session and shows the result; nothing is saved. " +
      "Its model calls are billed like any other."),
    sessions.length
      ? [field("Session", session), h("div", { class: "form-errors" }), h("div", { class: "actions" }, button)]
      : h("p", { class: "empty" }, "No sessions yet: chat in the playground first."),
    result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    replace(result);
    button.disabled = true;
    try {
      const { body, unchanged } = read();
      const source = saved && unchanged ? { structuredOutputId: saved.id } : { structuredOutput: body };
      const sessionId = session.value;
      const answer = await api.post("/structured-output/run", { ...source, sessionIds: [sessionId], previewEnabled: true });
      const { skipped, ...results } = answer;
      replace(result,
        h("p", { class: "muted small" },
          source.structuredOutputId ? "The saved output, on session " : "The output as edited (not saved), on session ",
          h("a", { href: `#/sessions/${sessionId}` }, shortId(sessionId))),
        resultsView(results, skipped));
    } catch (error) {
      if (error.status === 401) throw error;
      showErrors(form, error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
