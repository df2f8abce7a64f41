"use strict";
// The gateway's chat page (`llmring serve --ui`). It speaks the gateway's OpenAI API, like any
// other client: GET v1/models fills the model picker, POST v1/chat/completions streams the
// reply as `data: {chat.completion.chunk}` lines until `data: [DONE]`. URLs are relative, so
// the page works wherever the gateway serves it. The whole conversation travels with every
// question: the gateway keeps no state.

const $ = (id) => document.getElementById(id);
const list = $("messages");
const form = $("composer");
const input = $("input");
const send = $("send");
const stop = $("stop");
const picker = $("model");
const keyField = $("key");
const KEY_STORE = "llmring.key"; // sessionStorage: forgotten when the tab closes
const MODEL_STORE = "llmring.model";
const conversation = []; // the turns sent with every question, {role, content}
let controller = null; // aborts the reply being streamed (Stop)

// An error already worded for the person in front of the page.
class PageError extends Error {}

function setBusy(busy) {
  list.setAttribute("aria-busy", String(busy));
  stop.disabled = !busy;
  updateSend();
}

function updateSend() {
  send.disabled = controller !== null || !input.value.trim() || !picker.value;
}

function addBubble(role, text) {
  $("empty")?.remove();
  const item = document.createElement("li");
  item.className = `message ${role}`;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.textContent = text;
  item.append(bubble);
  list.append(item);
  list.scrollTop = list.scrollHeight;
  return bubble;
}

function addNote(bubble, text) {
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = text;
  bubble.after(note);
  list.scrollTop = list.scrollHeight;
}

function showError(message) {
  $("error-message").textContent = message;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

function requestHeaders() {
  const headers = { "content-type": "application/json" };
  const key = keyField.value.trim();
  if (key) headers.authorization = `Bearer ${key}`;
  return headers;
}

// What an error status means to the user; the gateway's own message only where it names what
// to change in the request (400). `error.code` tells the gateway's key (401) from the
// provider's (upstream_authentication).
async function describe(response, model) {
  let error = null;
  try {
    error = (await response.json()).error ?? null;
  } catch {
    // not JSON: the status says enough
  }
  const seconds = Number.parseInt(response.headers.get("retry-after") ?? "", 10);
  const later = Number.isFinite(seconds) ? `try again in ${seconds} s` : "try again in a moment";
  switch (response.status) {
    case 400:
      return error?.message
        ? `The gateway cannot take this request: ${error.message}`
        : "The gateway cannot take this request.";
    case 401:
      if (error?.code === "upstream_authentication") {
        return "The model's provider refused the gateway's credentials: tell the gateway's operator.";
      }
      return keyField.value.trim()
        ? "The gateway refused the API key: enter a valid key above."
        : "The gateway needs an API key: enter it above.";
    case 403:
      return "This API key may not do that on the gateway.";
    case 404:
      return `The model "${model}" is not available on this gateway.`;
    case 413:
      return "The conversation is too long for the gateway: start a new one.";
    case 429:
      return `Too many requests right now: ${later}.`;
    case 502:
      return "The model's provider is unavailable or failed: try again.";
    case 503:
      return Number.isFinite(seconds)
        ? `The gateway is busy: ${later}.`
        : "The model is unavailable on this gateway right now.";
    case 504:
      return "The model took too long to answer: try again.";
    default:
      return response.status >= 500
        ? "The gateway failed to answer: try again later."
        : `The gateway refused the request (HTTP ${response.status}).`;
  }
}

// The `data` of each event of a byte stream, split as the SSE spec says: a line ends at CRLF,
// LF or CR (a CR at the end of a read may be the first half of a CRLF), `data` lines are
// joined with "\n", a blank line dispatches, lines starting with ":" are comments.
async function* readData(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (;;) {
        const end = /\r\n|\r|\n/.exec(buffer);
        if (!end || (end[0] === "\r" && end.index === buffer.length - 1)) break;
        const line = buffer.slice(0, end.index);
        buffer = buffer.slice(end.index + end[0].length);
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
        } else if (line === "data" || line.startsWith("data:")) {
          const text = line.slice(5);
          data.push(text.startsWith(" ") ? text.slice(1) : text);
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // leaving early closes the connection: the model stops
  }
}

// Streams the reply into `bubble`; returns what the usage chunk reported, or throws PageError.
async function stream(response, bubble, progress) {
  let usage = null;
  for await (const data of readData(response.body)) {
    if (data === "[DONE]") return usage;
    const frame = JSON.parse(data);
    if (frame.error) {
      const why = frame.error.message || "the gateway reported an error";
      throw new PageError(
        progress.text ? `The reply was cut off: ${why}` : `The model could not answer: ${why}`,
      );
    }
    const text = frame.choices?.[0]?.delta?.content;
    if (text) {
      progress.text += text;
      bubble.textContent = progress.text;
      list.scrollTop = list.scrollHeight;
    }
    if (frame.usage) usage = frame.usage;
  }
  throw new PageError("The connection to the gateway was lost before the reply was complete.");
}

function describeUsage(model, usage) {
  const parts = model ? [model] : [];
  if (usage) parts.push(`${usage.prompt_tokens} + ${usage.completion_tokens} tokens`);
  if (typeof usage?.cost === "number") parts.push(`$${usage.cost.toFixed(6)}`);
  return parts.join(" · ");
}

async function ask(question) {
  hideError();
  const model = picker.value;
  conversation.push({ role: "user", content: question });
  addBubble("user", question);
  const bubble = addBubble("assistant", "");
  bubble.classList.add("streaming");
  controller = new AbortController();
  const { signal } = controller;
  setBusy(true);
  const progress = { text: "" };
  let response = null;
  try {
    response = await fetch("v1/chat/completions", {
      method: "POST",
      headers: requestHeaders(),
      body: JSON.stringify({
        model,
        messages: conversation,
        stream: true,
        stream_options: { include_usage: true },
      }),
      signal,
    });
    if (!response.ok) throw new PageError(await describe(response, model));
    const usage = await stream(response, bubble, progress);
    conversation.push({ role: "assistant", content: progress.text });
    const meta = describeUsage(response.headers.get("x-llmring-model"), usage);
    if (meta) addNote(bubble, meta);
  } catch (error) {
    if (signal.aborted) {
      // what arrived stays, and the next question carries it: the user saw it
      bubble.classList.add("stopped");
      addNote(bubble, progress.text ? "Stopped: the reply is incomplete." : "Stopped.");
      if (progress.text) conversation.push({ role: "assistant", content: progress.text });
      else conversation.pop();
    } else {
      conversation.pop(); // an unanswered question leaves the conversation as it was
      if (progress.text) bubble.classList.add("failed");
      else bubble.parentElement.remove();
      if (error instanceof PageError) showError(error.message);
      else if (response === null) showError("Could not reach the gateway: is it running?");
      else showError("The connection to the gateway was lost before the reply was complete.");
    }
  } finally {
    bubble.classList.remove("streaming");
    controller = null;
    setBusy(false);
    input.focus();
  }
}

function option(value, text) {
  const item = document.createElement("option");
  item.value = value;
  item.textContent = text;
  return item;
}

async function loadModels() {
  picker.disabled = true;
  let ids = [];
  try {
    const response = await fetch("v1/models", { headers: requestHeaders() });
    if (!response.ok) showError(await describe(response, ""));
    else ids = ((await response.json()).data ?? []).map((model) => model.id);
  } catch {
    showError("Could not reach the gateway: is it running?");
  }
  if (ids.length) {
    picker.replaceChildren(...ids.map((id) => option(id, id)));
    const saved = sessionStorage.getItem(MODEL_STORE);
    if (saved && ids.includes(saved)) picker.value = saved;
    picker.disabled = false;
    hideError();
  } else {
    picker.replaceChildren(option("", "no model"));
  }
  updateSend();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (controller || !question || !picker.value) return;
  input.value = "";
  input.style.height = "";
  ask(question);
});

stop.addEventListener("click", () => controller?.abort());

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  } else if (event.key === "Escape") {
    controller?.abort();
  }
});

input.addEventListener("input", () => {
  input.style.height = "auto";
  input.style.height = `${input.scrollHeight}px`;
  updateSend();
});

picker.addEventListener("change", () => {
  sessionStorage.setItem(MODEL_STORE, picker.value);
  updateSend();
});

keyField.addEventListener("change", () => {
  sessionStorage.setItem(KEY_STORE, keyField.value.trim());
  loadModels();
});

keyField.value = sessionStorage.getItem(KEY_STORE) ?? "";
loadModels();
