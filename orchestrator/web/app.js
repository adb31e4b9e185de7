// Updraft's web UI: the few things a page cannot do by itself. Actions go to the REST
// API as JSON (which also keeps other sites from posting them), logs of running
// attempts are followed, and pages with active runs refresh themselves.
"use strict";

// A form with data-url sends its fields as a JSON body with data-method.
function bodyOf(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") body[el.name] = el.checked;
    else if (el.dataset.json !== undefined) {
      if (el.value.trim() === "") continue;
      body[el.name] = JSON.parse(el.value); // a SyntaxError is shown to the user
    } else if (el.value !== "") body[el.name] = el.value;
  }
  return body;
}

async function send(form) {
  const out = form.querySelector(".error");
  if (out) out.textContent = "";
  let body;
  try {
    body = bodyOf(form);
  } catch (e) {
    if (out) out.textContent = "Not valid JSON: " + e.message;
    return;
  }
  const response = await fetch(form.dataset.url, {
    method: form.dataset.method || "POST",
    headers: { "content-type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
    if (out) out.textContent = detail;
    return;
  }
  if (form.dataset.then) location.href = form.dataset.then;
  else location.reload();
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.dataset.url) return;
  event.preventDefault();
  send(form);
});

// The paused switch of a DAG.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!box.dataset.pauseUrl) return;
  fetch(box.dataset.pauseUrl, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ is_paused: box.checked }),
  }).then((r) => { if (!r.ok) box.checked = !box.checked; });
});

// A running attempt's log, followed until it ends.
async function follow(pre) {
  const response = await fetch(pre.dataset.follow, { credentials: "same-origin" });
  if (!response.ok || !response.body) return;
  pre.textContent = "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pre.textContent += decoder.decode(value, { stream: true });
    pre.scrollTop = pre.scrollHeight;
  }
  pre.dataset.ended = "true";
}

let edited = false;
document.addEventListener("input", () => { edited = true; });

window.addEventListener("DOMContentLoaded", () => {
  for (const pre of document.querySelectorAll("pre[data-follow]")) follow(pre);
  const every = Number(document.body.dataset.refresh || 0);
  if (every > 0) {
    setInterval(() => {
      // Never throw away what someone is typing.
      if (!edited && !document.querySelector("pre[data-follow]:not([data-ended])")) location.reload();
    }, every * 1000);
  }
});
