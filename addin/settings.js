// "My settings" (/api/policy/me): the user's settings editable, the administrator's locked.

import * as api from "./api.js";
import { el } from "./render.js";

const ADMIN = "Set by your administrator";
const MODES = [
  ["all", "All relevant email", "Every email with a person in the CRM."],
  ["threads", "Threads I switch on", "Only threads with \"Auto-save this thread\" ticked."],
  ["off", "Off", "Only what you save by hand."],
];

const locked = (label, value) => el("div", { class: "set-row locked" },
  el("span", { class: "set-label" }, label), value, el("span", { class: "lock" }, ADMIN));
const say = (node, text, tone = "") => Object.assign(node, { textContent: text, className: tone });

function blockRows(view, onRemove) {
  const both = (v) => [...(v.blocked_addresses || []), ...(v.blocked_domains || [])];
  const own = new Set(both(view.settings));
  const all = both(view.effective);
  if (!all.length) return [el("li", { class: "muted" }, "No one is blocked.")];
  return all.map((entry) => el("li", { class: "block-row", dataset: { entry } },
    el("span", { class: "rec-name" }, entry.includes("@") ? entry : `@${entry}`),
    own.has(entry)
      ? el("button", { class: "btn small", type: "button", "aria-label": `Sync ${entry} again`,
        onclick: () => onRemove(entry) }, "Remove")
      : el("span", { class: "lock" }, ADMIN)));
}

/** Show the settings in `root`; `onClose` goes back to the email. */
export async function showSettings(root, onClose) {
  const back = el("button", { class: "btn", type: "button", id: "settings-close", onclick: onClose },
    "Back");
  root.replaceChildren(el("p", { class: "muted", role: "status" }, "Loading your settings…"));
  let view;
  try {
    view = await api.myPolicy();
  } catch (err) {
    root.replaceChildren(el("p", { class: "error-text", role: "alert" }, err.message), back);
    return;
  }
  const { effective, catalogue } = view;
  // Locked by the admin: its value shown, disabled, not sent.
  const lock = (n) => (view.locked || []).includes(n);
  const adm = (n) => lock(n) && el("span", { class: "lock" }, ADMIN);
  const message = el("span", { id: "settings-msg", role: "status" });
  const modes = el("fieldset", { class: "card", id: "auto-save-mode", disabled: lock("auto_save") },
    el("legend", {}, "Auto-save"), adm("auto_save"),
    MODES.map(([value, label, hint]) => el("div", { class: "pick-row" },
      el("input", { type: "radio", name: "auto_save", id: `mode-${value}`, value,
        checked: effective.auto_save === value }),
      el("label", { for: `mode-${value}` }, label, el("span", { class: "rec-sub" }, hint)))));
  const history = catalogue.history_days
    ? el("div", { class: "field" },
      el("label", { for: "history-days" }, "History window (days)"),
      el("input", { id: "history-days", type: "number", min: catalogue.history_days.min,
        max: catalogue.history_days.max, value: String(effective.history_days),
        disabled: lock("history_days") }), adm("history_days"))
    : locked("History window", `${effective.history_days} days`);
  const save = async () => {
    const changes = {};
    if (!lock("auto_save")) changes.auto_save = root.querySelector("input[name=auto_save]:checked").value;
    const days = root.querySelector("#history-days");
    if (days && !days.disabled) changes.history_days = Number(days.value);
    say(message, "Saving…");
    try {
      await api.updateMyPolicy(changes);
      say(message, "Saved. The next sync uses these settings.");
    } catch (err) {
      say(message, err.message, "error-text");
    }
  };
  const blocklist = el("ul", { class: "blocklist", id: "blocklist", "aria-label": "Not synced" },
    blockRows(view, remove));
  async function remove(entry) {
    try {
      await api.unblockEntry(entry);
      view = await api.myPolicy();
      blocklist.replaceChildren(...blockRows(view, remove));
      say(message, `${entry} is synced again.`);
    } catch (err) {
      say(message, err.message, "error-text");
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
      back, message),
    el("section", { class: "card" }, el("h3", {}, "Not synced (blocklist)"), blocklist)));
  root.querySelector("input:not(:disabled), button").focus();
}
