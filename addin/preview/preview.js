// The simulated Outlook around the real pane: a message list, a reading pane, and the host
// object the pane's simulated Office.js talks to (selection, ItemChanged, the signed-in user).
// Tests and the benchmark drive it through window.CourierPreviewHost.

const data = JSON.parse(document.getElementById("preview-data").textContent);
const list = document.getElementById("message-list");
const reading = document.getElementById("reading-pane");
let messages = data.messages.slice();
let selected = null;
const listeners = [];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function who(a) {
  if (!a) return "";
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

function shortDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function renderList() {
  list.replaceChildren(...messages.map((m) => {
    const sender = m.folder === "sentitems" ? `To: ${(m.to[0] && (m.to[0].name || m.to[0].address)) || ""}`
      : (m.from.name || m.from.address);
    const item = el("li", { role: "option", tabindex: "0", class: "olk-msg",
      "aria-selected": String(selected === m), "data-id": m.id },
    el("span", { class: "olk-from" }, sender),
    el("span", { class: "olk-subject" }, m.subject || "(no subject)"),
    el("span", { class: "olk-date" }, shortDate(m.date)));
    item.addEventListener("click", () => select(m));
    item.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        select(m);
      } else if (event.key === "ArrowDown" && item.nextElementSibling) item.nextElementSibling.focus();
      else if (event.key === "ArrowUp" && item.previousElementSibling) item.previousElementSibling.focus();
    });
    return item;
  }));
}

function renderReading() {
  if (!selected) {
    reading.replaceChildren(el("p", { class: "olk-empty" }, "Select a message."));
    return;
  }
  const m = selected;
  const parts = [
    el("h2", { class: "olk-read-subject" }, m.subject || "(no subject)"),
    el("p", { class: "olk-read-meta" }, el("strong", {}, "From: "), who(m.from)),
    el("p", { class: "olk-read-meta" }, el("strong", {}, "To: "), m.to.map(who).join("; ")),
    m.cc.length ? el("p", { class: "olk-read-meta" }, el("strong", {}, "Cc: "), m.cc.map(who).join("; ")) : null,
    el("p", { class: "olk-read-meta" }, shortDate(m.date)),
    el("pre", { class: "olk-read-body" }, m.body || ""),
  ];
  reading.replaceChildren(...parts.filter(Boolean));
}

// Outlook does not raise ItemChanged in every case (see office-sim.js): a test can change the
// selection without it.
function select(message, { itemChanged = true } = {}) {
  selected = message;
  renderList();
  renderReading();
  if (!itemChanged) return;
  for (const fn of listeners.slice()) {
    try {
      fn();
    } catch (_err) {
      // a pane that was reloaded leaves a dead listener behind
    }
  }
}

window.CourierPreviewHost = {
  user: () => data.user,
  selectedMessage: () => selected,
  onItemChanged(fn) {
    listeners.push(fn);
  },
  messages: () => messages.slice(),
  select(id, options) {
    select(id === null ? null : messages.find((m) => m.id === id) || null, options);
  },
  /** Put a message at the top of the list (tests: known, hostile or unknown senders). */
  addMessage(message) {
    const m = { to: [], cc: [], body: "", folder: "inbox", date: new Date().toISOString(), ...message };
    messages = [m, ...messages.filter((x) => x.id !== m.id)];
    renderList();
    return m.id;
  },
};

document.getElementById("user-select").addEventListener("change", (event) => {
  const url = new URL(window.location.href);
  url.searchParams.set("user", event.target.value);
  url.searchParams.delete("page"); // another mailbox starts at its newest page
  window.location.assign(url.toString());
});

renderList();
// The pane loads only now, so its simulated Office finds this host from its first line.
const paneFrame = document.getElementById("pane");
paneFrame.src = paneFrame.dataset.src;
