"use strict";
// The chat page: POST the conversation to /chat and show the Server-Sent Events of the reply
// as they arrive (`message`: a text delta, `done`: complete, `error`: its message).

const $ = (id) => document.getElementById(id);
const list = $("messages");
const form = $("composer");
const input = $("input");
const send = $("send");
const conversation = []; // the completed turns, {role, content}, sent with every question
let busy = false;

function setBusy(value) {
  busy = value;
  list.setAttribute("aria-busy", String(value));
  send.disabled = busy || !input.value.trim();
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

function showError(message) {
  $("error-message").textContent = message;
  $("error").hidden = false;
}

// Events from a byte stream, split as the SSE spec says: a line ends at CRLF, LF or CR (a CR
// at the end of a read may be the first half of a CRLF), `data` lines are joined with "\n",
// a blank line dispatches, lines starting with ":" are comments (keep-alive pings).
async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  let type = "";
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
          if (data.length) yield { type: type || "message", data: data.join("\n") };
          data = [];
          type = "";
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let text = colon < 0 ? "" : line.slice(colon + 1);
          if (text.startsWith(" ")) text = text.slice(1);
          if (field === "data") data.push(text);
          else if (field === "event") type = text;
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // leaving early closes the connection: the model stops
  }
}

// An HTTP error as one sentence; FastAPI's validation errors list {loc, msg} items.
async function describe(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    if (typeof body.detail === "string") detail = body.detail;
    else if (Array.isArray(body.detail)) {
      detail = body.detail.map((d) => `${(d.loc ?? []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
  } catch {
    // not JSON: the status text says enough
  }
  return `The server answered ${response.status}: ${detail}`;
}

async function ask(question) {
  $("error").hidden = true;
  conversation.push({ role: "user", content: question });
  addBubble("user", question);
  const bubble = addBubble("assistant", "");
  bubble.classList.add("streaming");
  setBusy(true);
  let reply = "";
  try {
    const response = await fetch("chat", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ messages: conversation }),
    });
    if (!response.ok) throw new Error(await describe(response));
    let complete = false;
    for await (const event of readEvents(response.body)) {
      if (event.type === "message") {
        reply += event.data;
        bubble.textContent = reply;
        list.scrollTop = list.scrollHeight;
      } else if (event.type === "error") {
        throw new Error(event.data);
      } else if (event.type === "done") {
        complete = true;
        break;
      }
    }
    if (!complete) throw new Error("The connection closed before the reply was complete.");
    conversation.push({ role: "assistant", content: reply });
  } catch (error) {
    conversation.pop(); // an unanswered question leaves the conversation as it was
    if (reply) bubble.classList.add("failed");
    else bubble.parentElement.remove();
    showError(error.message || String(error));
  } finally {
    bubble.classList.remove("streaming");
    setBusy(false);
    input.focus();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (busy || !question) return;
  input.value = "";
  input.style.height = "";
  ask(question);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

input.addEventListener("input", () => {
  input.style.height = "auto";
  input.style.height = `${input.scrollHeight}px`;
  send.disabled = busy || !input.value.trim();
});

fetch("model")
  .then((response) => (response.ok ? response.json() : null))
  .then((body) => { if (body) $("model").textContent = body.model; })
  .catch(() => {});
