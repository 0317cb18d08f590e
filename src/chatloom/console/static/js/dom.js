// Small DOM and formatting helpers shared by the views. Text always goes in as text nodes, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name in element && typeof value !== "string") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : value);
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function money(value) {
  const amount = Number(value || 0);
  if (amount === 0) return "$0";
  if (amount < 0.01) return `$${amount.toFixed(6)}`;
  return `$${amount.toFixed(amount < 1 ? 4 : 2)}`;
}

export function when(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? iso : moment.toLocaleString();
}

/** A size in bytes for reading: "812 B", "3.4 KiB", "10 MiB". */
export function byteSize(value) {
  if (value === null || value === undefined) return "";
  let amount = Number(value);
  if (amount < 1024) return `${amount} B`;
  for (const unit of ["KiB", "MiB", "GiB"]) {
    amount /= 1024;
    if (amount < 1024 || unit === "GiB") return `${Number(amount.toFixed(amount < 10 ? 1 : 0))} ${unit}`;
  }
  return `${amount} B`;
}

export function shortId(id) {
  return id ? String(id).slice(0, 8) + "…" : "";
}

export function snippet(text, length = 80) {
  const flat = String(text ?? "").replace(/\s+/g, " ").trim();
  return flat.length > length ? flat.slice(0, length - 1) + "…" : flat;
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** A textual form of message content (a string or a list of parts); an attachment is a marker. */
export function textOf(content) {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    const attached = content.some((part) => part?.type === "image_url" || part?.type === "file");
    return content.map(partText).filter(Boolean).join(attached ? " " : "");
  }
  return String(content);
}

function partText(part) {
  if (part?.type === "image_url") return "[image]";
  if (part?.type === "file") return part.file?.filename ? `[file: ${part.file.filename}]` : "[file]";
  return part?.text ?? "";
}

/** The fields every stored document carries; they are not sent back when creating or editing. */
export const STORED_FIELDS = ["id", "orgId", "createdAt", "updatedAt"];

export function withoutStoredFields(document) {
  const copy = { ...document };
  for (const field of STORED_FIELDS) delete copy[field];
  return copy;
}
