// Shows an API error next to the fields it names: each message goes under the form control whose
// `data-field` is the longest prefix of the message's field path; the rest go to the form's own box.

import { h, replace } from "../dom.js";

function covers(prefix, path) {
  return path === prefix || path.startsWith(prefix + ".") || path.startsWith(prefix + "[");
}

export function clearErrors(form) {
  for (const element of form.querySelectorAll(".field-error")) element.remove();
  for (const element of form.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
  const box = form.querySelector(".form-errors");
  if (box) replace(box);
}

export function showErrors(form, error) {
  clearErrors(form);
  const controls = [...form.querySelectorAll("[data-field]")];
  const unplaced = [];
  for (const item of error.byField ? error.byField() : [{ field: null, text: error.message, whole: error.message }]) {
    const control = item.field
      ? controls
          .filter((candidate) => covers(candidate.dataset.field, item.field))
          .sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0]
      : null;
    if (!control) {
      unplaced.push(item);
      continue;
    }
    control.setAttribute("aria-invalid", "true");
    const note = h("p", { class: "field-error", role: "alert", dataset: { for: control.dataset.field } }, item.whole);
    control.closest(".field")?.append(note) ?? control.after(note);
  }
  const box = form.querySelector(".form-errors");
  if (box && unplaced.length) {
    replace(
      box,
      unplaced.map((item) =>
        h("p", { class: "error", role: "alert" }, item.field ? h("code", {}, item.field) : null, item.field ? " " + item.text : item.text),
      ),
    );
  }
}

export function field(label, control, hint) {
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hint ? h("p", { class: "muted small" }, hint) : null);
}
