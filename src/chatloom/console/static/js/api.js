// The console's only way to the server: the public API, authenticated with the key kept in this tab's
// sessionStorage. Errors carry the API's own message(s), each naming its field.

const KEY = "chatloom.apiKey";

export const keyStore = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, messages) {
    super(messages.join("; "));
    this.status = status;
    this.messages = messages;
  }

  /** Messages split by the field they name ("model.temperature: Input should be ..."). */
  byField() {
    return this.messages.map((text) => {
      const match = /^([A-Za-z_][\w.[\]]*): (.*)$/s.exec(text);
      return match ? { field: match[1], text: match[2], whole: text } : { field: null, text, whole: text };
    });
  }
}

async function errorOf(response) {
  let messages = [`${response.status} ${response.statusText}`];
  try {
    const body = await response.json();
    const message = body?.message ?? body?.error?.message;
    if (Array.isArray(message)) messages = message.map(String);
    else if (message) messages = [String(message)];
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, messages);
}

function headers(key, json) {
  const result = { Authorization: `Bearer ${key ?? keyStore.get() ?? ""}` };
  if (json) result["Content-Type"] = "application/json";
  return result;
}

export function withQuery(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

let onUnauthorized = () => {};

/** Called with the API's message when a request answers 401 (the key was revoked meanwhile). */
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export async function request(method, path, { body, query, key } = {}) {
  const response = await fetch(withQuery(path, query), {
    method,
    headers: headers(key, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && key === undefined) onUnauthorized(error);
    throw error;
  }
  return response.status === 204 ? null : response.json();
}

export const api = {
  get: (path, query) => request("GET", path, { query }),
  post: (path, body) => request("POST", path, { body }),
  patch: (path, body, query) => request("PATCH", path, { body, query }),
  delete: (path) => request("DELETE", path),
  upload: (path, parts) => upload(path, parts),
};

/**
 * POST a `multipart/form-data` body: `parts` maps names to strings or Blobs/Files (a File keeps its name).
 * The browser writes the boundary's Content-Type itself. A body the server cut off (it refuses one over its
 * size limit before reading it all) can end in a network error rather than the answer; that is told as
 * such rather than as a bare "Failed to fetch".
 */
export async function upload(path, parts) {
  const form = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    if (value !== undefined && value !== null && value !== "") form.append(name, value);
  }
  let response;
  try {
    response = await fetch(path, { method: "POST", headers: headers(), body: form, cache: "no-store", credentials: "omit" });
  } catch (error) {
    throw new ApiError(0, [`The upload did not complete (${error.message}): the server may have refused a body this large.`]);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return response.json();
}

/** Checks a key with a cheap authenticated call; throws the API's ApiError when it is refused. */
export async function checkKey(key) {
  await request("GET", "/assistant", { query: { limit: 1 }, key });
}

/**
 * POST /chat with `stream: true`, reading the SSE `data:` frames as they arrive (EventSource cannot send
 * an Authorization header). `onFrame` gets each decoded frame; resolves with the chat id at `[DONE]`.
 */
export async function streamChat(body, onFrame) {
  const response = await fetch("/chat", {
    method: "POST",
    headers: headers(undefined, true),
    body: JSON.stringify({ ...body, stream: true }),
    cache: "no-store",
    credentials: "omit",
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let chatId = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of frame.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trimStart();
        if (data === "[DONE]") return chatId;
        const payload = JSON.parse(data);
        chatId = payload.id ?? chatId;
        if (payload.error) throw new ApiError(payload.error.statusCode ?? 502, [payload.error.message]);
        onFrame(payload);
      }
    }
  }
  return chatId;
}
