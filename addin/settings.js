// "My settings": the user's own data controls (server/api/policy.py /api/policy/me). What the
// user may change is editable; what only an administrator sets is shown, locked. Strings from
// the server go in as text (render.el).

import * as api from "./api.js";
import { el } from "./render.js";

const MODES = [
  ["all", "All relevant email", "Background sync saves every email with a person in the CRM."],
  ["threads", "Threads I switch on", "Only conversations with \"Auto-save this thread\" ticked."],
  ["off", "Off", "Nothing is saved unless you save it."],
];

function locked(label, value) {
  return el("div", { class: "set-row locked", dataset: { locked: "true" } },
    el("span", { class: "set-label" }, label),
    el("span", { class: "set-value" }, value),
    el("span", { class: "lock" }, "Set by your administrator"));
}

function blockRows(view, onRemove) {
  const mine = view.settings || {};
  const own = new Set([...(mine.blocked_addresses || []), ...(mine.blocked_domains || [])]);
  const all = [...(view.effective.blocked_addresses || []), ...(view.effective.blocked_domains || [])];
  if (!all.length) return [el("li", { class: "muted" }, "No one is blocked.")];
  return all.map((entry) => el("li", { class: "block-row", dataset: { entry } },
    el("span", { class: "rec-name" }, entry.includes("@") ? entry : `@${entry}`),
    own.has(entry)
      ? el("button", { class: "btn small", type: "button", "aria-label": `Sync ${entry} again`,
        onclick: () => onRemove(entry) }, "Remove")
      : el("span", { class: "lock" }, "Set by your administrator")));
}

/** Show the settings in `root`; `onClose` goes back to the email. */
export async function showSettings(root, onClose) {
  root.replaceChildren(el("p", { class: "muted", role: "status" }, "Loading your settings…"));
  let view;
  try {
    view = await api.myPolicy();
  } catch (err) {
    root.replaceChildren(el("p", { class: "error-text", role: "alert" }, err.message),
      el("button", { class: "btn", type: "button", id: "settings-close", onclick: onClose }, "Back"));
    return;
  }
  const effective = view.effective || {};
  const catalogue = view.catalogue || {};
  const message = el("span", { id: "settings-msg", role: "status" });
  const modes = el("fieldset", { class: "card", id: "auto-save-mode" },
    el("legend", {}, "Auto-save"),
    MODES.map(([value, label, hint]) => el("div", { class: "pick-row" },
      el("input", { type: "radio", name: "auto_save", id: `mode-${value}`, value,
        checked: effective.auto_save === value }),
      el("label", { for: `mode-${value}` }, label, el("span", { class: "rec-sub" }, hint)))));
  const history = catalogue.history_days
    ? el("div", { class: "field" },
      el("label", { for: "history-days" }, "History window (days)"),
      el("input", { id: "history-days", type: "number", min: catalogue.history_days.min,
        max: catalogue.history_days.max, value: String(effective.history_days) }))
    : locked("History window", `${effective.history_days} days`);
  const save = async () => {
    const changes = { auto_save: root.querySelector("input[name=auto_save]:checked").value };
    const days = root.querySelector("#history-days");
    if (days) changes.history_days = Number(days.value);
    message.textContent = "Saving…";
    try {
      await api.updateMyPolicy(changes);
      message.className = "";
      message.textContent = "Saved. The next sync uses these settings.";
    } catch (err) {
      message.className = "error-text";
      message.textContent = err.message;
    }
  };
  const blocklist = el("ul", { class: "blocklist", id: "blocklist", "aria-label": "Not synced" },
    blockRows(view, remove));
  async function remove(entry) {
    try {
      await api.unblockEntry(entry);
      view = await api.myPolicy();
      blocklist.replaceChildren(...blockRows(view, remove));
      message.className = "";
      message.textContent = `${entry} is synced again.`;
    } catch (err) {
      message.className = "error-text";
      message.textContent = err.message;
    }
  }
  root.replaceChildren(el("div", { class: "settings", id: "settings" },
    el("h2", {}, "My settings"),
    modes,
    el("section", { class: "card" }, el("h3", {}, "Sync"), history,
      locked("Sync runs every", `${effective.sync_interval_minutes} min`)),
    el("div", { class: "row" },
      el("button", { class: "btn primary", type: "button", id: "settings-save", onclick: save },
        "Save settings"),
      el("button", { class: "btn", type: "button", id: "settings-close", onclick: onClose }, "Back"),
      message),
    el("section", { class: "card" }, el("h3", {}, "Not synced (blocklist)"), blocklist)));
  root.querySelector("input[name=auto_save]:checked, input[name=auto_save]").focus();
}
