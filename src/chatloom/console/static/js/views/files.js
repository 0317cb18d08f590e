// Files (`/file`): the org's uploaded files, an upload form, rename and delete. The server extracts a new
// file's text in the background: while any listed file is `processing`, each such file is read again
// (`GET /file/{id}`) every POLL_MS until it is `done` or `failed`; the polling stops when the view is left.

import { api, ApiError } from "../api.js";
import { byteSize, h, replace, when } from "../dom.js";
import { clearErrors, field, showErrors } from "./forms.js";

const PURPOSES = ["assistant", "composer-attachment", "knowledge-base-v2"];
const FORMATS = "txt, md, csv, tsv, json, yaml, xml, log, html, pdf or docx";
const LIST_LIMIT = 1000;
const POLL_MS = 750;

function statusView(file) {
  return [
    h("span", { class: `badge ${file.status}` }, file.status),
    file.status === "failed" && file.failedReason ? h("div", { class: "error small failed-reason" }, file.failedReason) : null,
  ];
}

function sizeView(bytes) {
  return bytes === null || bytes === undefined ? "" : h("span", { title: `${bytes} bytes` }, byteSize(bytes));
}

function nameView(file) {
  const title = `${file.originalName} · ${file.mimetype} · ${file.id}`;
  return h("span", { class: "file-name", title }, file.name);
}

export async function render(main, route, { isCurrent }) {
  const listed = await api.get("/file", { limit: LIST_LIMIT });
  const entries = new Map();
  const tbody = h("tbody");
  const table = h("table", { class: "list", id: "file-list" },
    h("thead", {}, h("tr", {},
      h("th", {}, "Name"), h("th", { class: "number" }, "Size"), h("th", {}, "Purpose"), h("th", {}, "Status"),
      h("th", { class: "number" }, "Parsed text"), h("th", {}, "Created"), h("th", {}))),
    tbody);
  const empty = h("p", { class: "empty" }, "No files yet. Upload one to have its text extracted.");
  const problems = h("div", { id: "file-errors", "aria-live": "polite" });
  const active = () => isCurrent() && main.isConnected;

  const report = (error) => {
    if (error.status === 401 || !active()) return;
    replace(problems, h("p", { class: "error", role: "alert" }, error.message || String(error)));
  };
  const refreshEmpty = () => {
    table.hidden = entries.size === 0;
    empty.hidden = entries.size > 0;
  };
  const forget = (id) => {
    entries.get(id)?.row.remove();
    entries.delete(id);
    refreshEmpty();
  };

  // One polling loop per rendering of the view: `polling` is true from the moment a poll is scheduled
  // until it has finished, so uploads during a poll never start a second loop.
  let polling = false;
  const schedule = () => {
    if (polling || !active() || ![...entries.values()].some((entry) => entry.file.status === "processing")) return;
    polling = true;
    setTimeout(poll, POLL_MS);
  };
  const poll = async () => {
    const pending = [...entries.values()].filter((entry) => entry.file.status === "processing");
    await Promise.all(pending.map(async (entry) => {
      if (!active()) return;
      try {
        entry.update(await api.get(`/file/${encodeURIComponent(entry.file.id)}`));
      } catch (error) {
        if (error.status === 404) forget(entry.file.id);
        else report(error);
      }
    }));
    polling = false;
    schedule();
  };

  const rowOf = (file) => {
    const entry = { file };
    const name = h("td", {}, nameView(file));
    const status = h("td", { class: "file-status" }, statusView(file));
    const parsed = h("td", { class: "number file-parsed" }, sizeView(file.parsedTextBytes));
    const rename = h("button", { type: "button", class: "secondary small rename-file" }, "Rename");
    const remove = h("button", { type: "button", class: "danger small delete-file" }, "Delete");
    entry.row = h("tr", { dataset: { id: file.id, status: file.status } },
      name,
      h("td", { class: "number" }, sizeView(file.bytes)),
      h("td", {}, file.purpose || h("span", { class: "muted" }, "—")),
      status,
      parsed,
      h("td", { class: "muted" }, when(file.createdAt)),
      h("td", { class: "actions" }, rename, remove));
    entry.update = (fresh) => {
      entry.file = fresh;
      entry.row.dataset.status = fresh.status;
      replace(status, statusView(fresh));
      replace(parsed, sizeView(fresh.parsedTextBytes));
      if (!name.querySelector("form")) replace(name, nameView(fresh));
    };

    rename.addEventListener("click", () => {
      const input = h("input", { name: "name", value: entry.file.name, "aria-label": "New name", dataset: { field: "name" } });
      const form = h("form", { class: "rename", novalidate: true }, input,
        h("div", { class: "form-errors" }),
        h("div", { class: "actions" },
          h("button", { type: "submit", class: "small" }, "Save"),
          h("button", { type: "button", class: "secondary small", onclick: () => replace(name, nameView(entry.file)) }, "Cancel")));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        try {
          const saved = await api.patch(`/file/${encodeURIComponent(entry.file.id)}`, { name: input.value });
          replace(name, nameView(saved));
          entry.update(saved);
        } catch (error) {
          if (error.status === 401) return;
          showErrors(form, error);
        }
      });
      replace(name, form);
      input.focus();
    });

    remove.addEventListener("click", async () => {
      if (remove.dataset.armed !== "yes") {
        remove.dataset.armed = "yes";
        remove.textContent = "Really delete?";
        return;
      }
      try {
        await api.delete(`/file/${encodeURIComponent(entry.file.id)}`);
        forget(entry.file.id);
      } catch (error) {
        if (error.status === 404) forget(entry.file.id);
        else report(error);
      }
    });
    entries.set(file.id, entry);
    return entry.row;
  };

  const chooser = h("input", { type: "file", id: "file-input", dataset: { field: "file" } });
  const purpose = h("select", { id: "file-purpose", dataset: { field: "purpose" } },
    h("option", { value: "" }, "(none)"),
    PURPOSES.map((value) => h("option", { value }, value)));
  const button = h("button", { type: "submit", id: "upload-file" }, "Upload");
  const done = h("p", { class: "status", role: "status" });
  const upload = h("form", { class: "card upload", id: "file-upload", novalidate: true },
    h("div", { class: "row" },
      field("File", chooser, `${FORMATS}; its text is extracted on the server and the content is never served back.`),
      field("Purpose", purpose)),
    h("div", { class: "form-errors" }),
    h("div", { class: "actions" }, button, done));
  upload.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(upload);
    done.textContent = "";
    const chosen = chooser.files[0];
    if (!chosen) {
      showErrors(upload, new ApiError(400, ["file: choose a file to upload"]));
      return;
    }
    button.disabled = true;
    try {
      const file = await api.upload("/file", { file: chosen, purpose: purpose.value });
      replace(problems);
      tbody.prepend(rowOf(file));
      refreshEmpty();
      chooser.value = "";
      done.textContent = `Uploaded ${file.name}.`;
      schedule();
    } catch (error) {
      if (error.status === 401) return;
      showErrors(upload, error);
    } finally {
      button.disabled = false;
    }
  });

  for (const file of listed) tbody.append(rowOf(file));
  refreshEmpty();
  replace(main,
    h("div", { class: "heading" }, h("h1", {}, "Files")),
    upload,
    problems,
    table,
    empty,
    listed.length >= LIST_LIMIT ? h("p", { class: "muted small" }, `The ${LIST_LIMIT} most recent files.`) : null);
  schedule();
}
