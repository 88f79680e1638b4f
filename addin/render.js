// JSON -> DOM. Every string from an email or the CRM goes in as a text node or a property:
// this module never assigns innerHTML and never puts data into a URL it did not build.

const CLASS_LABELS = {
  matched: "In CRM",
  role: "Role address",
  tool: "Tool address",
  internal: "Internal",
  blocked: "Blocked",
  personal: "Personal address",
  not_in_crm: "Not in CRM",
  invalid: "Invalid address",
};

/** el("div", {class: "x", "aria-label": "y"}, child, "text", ...) */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "checked" || name === "disabled" || name === "value") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replace(root, ...children) {
  root.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
  root.setAttribute("aria-busy", "false");
}

export function showLoading(root) {
  root.replaceChildren(
    el("div", { class: "state state-loading", role: "status" },
      el("div", { class: "spinner", "aria-hidden": "true" }),
      el("p", { text: "Looking up the people in this email…" })),
  );
  root.setAttribute("aria-busy", "true");
}

export function showSignedOut(root, onSignIn, message) {
  replace(root, el("div", { class: "state state-signedout" },
    el("h2", { text: "Sign in to Courier" }),
    el("p", { text: "See every person in this email in your CRM, and save emails in one click." }),
    message ? el("p", { class: "error-text", role: "alert", text: message }) : null,
    el("button", { class: "btn primary", type: "button", id: "signin", onclick: onSignIn },
      "Sign in with Microsoft")));
}

export function showEmpty(root) {
  replace(root, el("div", { class: "state state-empty" },
    el("h2", { text: "No email selected" }),
    el("p", { text: "Select an email to see its people and records in your CRM." })));
}

/** Office.js never became ready, or this Outlook is too old: nothing else can work. */
export function showUnsupported(root, message) {
  replace(root, el("div", { class: "state state-error state-unsupported", role: "alert" },
    el("h2", { text: "Courier can't start here" }),
    el("p", { text: message })));
}

export function showError(root, message, onRetry) {
  replace(root, el("div", { class: "state state-error", role: "alert" },
    el("h2", { text: "Something went wrong" }),
    el("p", { text: message || "Courier could not load this email." }),
    el("button", { class: "btn", type: "button", id: "retry", onclick: onRetry }, "Try again")));
}

export function renderStatus(node, status, onSignOut, onDisconnectCrm, onSyncNow, mailbox) {
  if (!status) {
    node.replaceChildren();
    return;
  }
  const user = status.user || {};
  const crm = status.crm || {};
  const sync = status.sync || {};
  const label = crm.label || crm.name || "CRM";
  let crmText = crm.connected ? `${label} connected` : `${label} not connected`;
  if (crm.needs_reauth) crmText = `${label} needs connecting again`;
  let syncText = sync.label || "";
  if (sync.progress_read) syncText += `: ${sync.progress_read} of ~${sync.progress_estimate} items`;
  if (sync.last_success_at) syncText += ` · last ${when(sync.last_success_at)}`;
  const other = mailbox && !(user.addresses || [user.email]).includes(mailbox);
  const parts = [
    el("span", { class: "status-user", title: user.email || "" }, user.name || user.email || ""),
    el("span", { class: crm.connected ? "dot ok" : "dot bad", "aria-hidden": "true" }),
    el("span", { id: "crm-state", title: crm.username || "" }, crmText),
    syncText ? el("span", { class: `sync sync-${sync.state || "unknown"}`, id: "sync-state" },
      syncText) : null,
    onSyncNow && sync.state !== "disabled" &&
      btn("small subtle", "Sync now", onSyncNow, { id: "sync-now" }),
    crm.can_disconnect && onDisconnectCrm ? el("button", { class: "btn small subtle crm-disconnect",
      type: "button", id: "crm-disconnect", onclick: onDisconnectCrm }, `Disconnect ${label}`) : null,
    onSignOut ? el("button", { class: "btn small subtle signout", type: "button", id: "signout",
      onclick: onSignOut }, "Sign out") : null,
    other ? el("p", { class: "error-text", id: "owner-warning", role: "alert" },
      `Signed in as ${user.email}, not as this mailbox's owner ${mailbox}.`) : null,
  ];
  node.replaceChildren(...parts.filter(Boolean)); // replaceChildren would print a null
}

const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" });

/** The user's CRM login is missing or revoked: say so, and offer to connect it. */
export function showConnectCrm(root, crm, onConnect, message) {
  const label = crm.label || crm.name || "CRM";
  const again = !!crm.needs_reauth;
  replace(root, el("div", { class: "state state-connect" },
    el("h2", { text: again ? `Connect ${label} again` : `Connect ${label}` }),
    el("p", { text: again
      ? `Your ${label} access has expired or was revoked. Connect again to see and save records.`
      : `Courier finds the people in your emails and saves emails in ${label} as you. ` +
        "Connect your login once to start." }),
    message ? el("p", { class: "error-text", role: "alert", text: message }) : null,
    el("button", { class: "btn primary", type: "button", id: "crm-connect", onclick: onConnect },
      `Connect ${label}`)));
}

function recordCheckbox(record, label, sublabel, opts = {}) {
  const ref = record.ref || record;
  const id = `pick-${ref.type}-${ref.id}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const input = el("input", {
    type: "checkbox", id, class: "pick", checked: !!opts.checked,
    dataset: { type: ref.type, id: String(ref.id), address: opts.address || "" },
  });
  return el("div", { class: "pick-row" },
    input,
    el("label", { for: id },
      el("span", { class: "rec-name" }, label),
      sublabel ? el("span", { class: "rec-sub" }, sublabel) : null,
      opts.reason ? el("span", { class: "reason" }, opts.reason) : null));
}

function typeLabel(type) {
  return { contact: "Contact", lead: "Lead", account: "Account", opportunity: "Opportunity" }[type]
    || type;
}

function participantRow(p, actions, tick) {
  const shown = p.name ? p.name : p.address;
  const badge = el("span", { class: `badge badge-${p.class}` }, CLASS_LABELS[p.class] || p.class);
  const head = el("div", { class: "p-head" },
    el("div", { class: "p-who" },
      el("span", { class: "p-name" }, shown),
      p.name ? el("span", { class: "p-addr" }, p.address) : null),
    badge);
  const body = [];
  if (p.class === "matched") {
    for (const c of p.candidates || []) {
      const sub = [typeLabel(c.ref.type), c.account_name || c.company || "", c.title || ""]
        .filter(Boolean).join(" · ");
      body.push(recordCheckbox(c, c.name, sub, {
        checked: tick(c), address: p.candidates.length > 1 ? p.address : "",
        reason: (p.candidates.length > 1 && c.default) ? c.reason_text : "",
      }));
    }
  } else if (p.reason_text) {
    body.push(el("p", { class: "p-reason" }, p.reason_text));
  }
  const buttons = [];
  if (p.class === "not_in_crm") {
    buttons.push(
      el("button", { class: "btn small", type: "button", onclick: () => actions.create(p, "contact"),
        "aria-label": `Create a contact for ${p.address}` }, "Create contact"),
      el("button", { class: "btn small", type: "button", onclick: () => actions.create(p, "lead"),
        "aria-label": `Create a lead for ${p.address}` }, "Create lead"));
  }
  const undo = p.class === "blocked" && actions.undoEntry ? actions.undoEntry(p) : null;
  if (undo) {
    buttons.push(btn("small", "Undo", () => actions.unblock(undo),
      { id: "undo-block", "aria-label": `Undo: sync ${undo} again` }));
  }
  return el("li", { class: `participant p-${p.class}`, dataset: { address: p.address } },
    head, ...body, buttons.length ? el("div", { class: "p-actions" }, buttons) : null,
    el("div", { class: "p-form" }));
}

export function createForm(container, p, kind, onSubmit, onCancel) {
  const ids = { name: "cf-name", email: "cf-email", company: "cf-company" };
  const prefill = p.prefill || {};
  const field = (key, label, value, type = "text") => el("div", { class: "field" },
    el("label", { for: ids[key] }, label),
    el("input", { id: ids[key], name: key, type, value: value || "", required: key !== "company" }));
  const error = el("p", { class: "error-text", role: "alert" });
  const form = el("form", { class: "create-form", "aria-label": `New ${kind}` },
    field("name", "Name", prefill.name),
    field("email", "Email", prefill.email || p.address, "email"),
    field("company", kind === "lead" ? "Company" : "Company (account)", prefill.company),
    error,
    el("div", { class: "row" },
      el("button", { class: "btn primary small", type: "submit" }, `Create ${kind}`),
      el("button", { class: "btn small subtle", type: "button", onclick: onCancel }, "Cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    onSubmit(data, (message) => { error.textContent = message; });
  });
  container.replaceChildren(form);
  form.querySelector("input").focus();
}

const SAVED_BY = { manual: "by hand", thread: "by thread auto-save", auto: "by background sync" };

function savedBanner(saved) {
  if (!saved || !saved.status) return null;
  const texts = {
    saved: ["ok", "Saved to CRM"],
    pending: ["pending", "Saving… the CRM is busy; this email is queued and will be saved."],
    failed: ["bad", "Saving failed"],
    removed: ["bad", "Removed from CRM by you"],
  };
  const [tone, base] = texts[saved.status] || ["pending", saved.status];
  const by = SAVED_BY[saved.source];
  const text = saved.status === "saved" && by ? `${base} ${by}` : base;
  const links = (saved.links || []).map((l) => el("li", {},
    el("span", { class: "rec-type" }, typeLabel(l.type)), " ", l.name || `#${l.id}`));
  return el("section", { class: `banner banner-${tone}`, id: "saved-state", role: "status",
    dataset: { status: saved.status, source: saved.source || "" } },
  el("strong", {}, text),
  saved.error ? el("p", { class: "error-text" }, saved.error) : null,
  links.length ? el("ul", { class: "links", "aria-label": "Saved with links to" }, links) : null);
}

/** Where an unsaved email stands: screened out, will be saved, or not saved and why. */
function whyNote(why, actions) {
  if (!why) return null;
  const kind = why.kind || "not_saved";
  const settings = why.where === "my_settings" &&
    btn("small subtle", "Open My settings", () => actions.settings(), { id: "why-settings" });
  return el("section", { class: `why why-${kind}`, id: "why", role: "status",
    dataset: { kind, code: why.code || "" } },
  el("strong", { class: "why-msg" }, why.message || why.code),
  why.hint ? el("p", { class: "why-hint" }, why.hint) : null, settings);
}

function section(title, id, ...children) {
  return el("section", { class: "card", "aria-labelledby": `${id}-h` },
    el("h3", { id: `${id}-h` }, title), ...children);
}

export function showSuggestions(root, data, actions) {
  const saved = data.saved && data.saved.status === "saved";
  // Screened out (newsletter, internal…): nothing is ticked; saving is a deliberate extra step.
  const screened = !saved && data.why && data.why.kind === "screened";
  // Once saved, the ticks are what is linked (no unlinking yet).
  const linked = new Map((saved ? data.saved.links : []).map((l) => [`${l.type}:${l.id}`, l]));
  const shown = new Set();
  const tick = (r) => {
    const key = `${r.ref.type}:${r.ref.id}`;
    shown.add(key);
    return saved ? linked.has(key) : !screened && !!r.default;
  };
  const why = (r) => !saved && !screened && r.reason_text; // why (not) ticked
  const participants = el("ul", { class: "participants", "aria-label": "People in this email" },
    (data.participants || []).map((p) => participantRow(p, actions, tick)));
  const accounts = (data.accounts || []).map((a) =>
    recordCheckbox(a, a.name, (a.domains || []).join(", "), { checked: tick(a), reason: why(a) }));
  const all = data.opportunities || [];
  // A reason that holds for the whole group (linking to opportunities is off) is said once,
  // above the rows, not on every row.
  const groupWhy = all.find((o) => o.reason === "linking_off" && why(o));
  const opp = (o) => recordCheckbox(o, o.name, [o.stage, o.account_name, formatAmount(o),
    o.close_date && `closes ${o.close_date}`].filter(Boolean).join(" · "),
  { checked: tick(o), reason: o.reason === "linking_off" ? "" : why(o) });
  const closed = all.filter((o) => o.is_closed).map(opp);
  const opps = all.filter((o) => !o.is_closed).map(opp);
  if (closed.length) {
    opps.push(el("details", { class: "closed-opps" },
      el("summary", {}, `Closed opportunities (${closed.length})`), closed));
  }
  const searchInput = el("input", { type: "search", id: "search-q", placeholder: "Name, email or company",
    "aria-label": "Search the CRM", autocomplete: "off" });
  const searchResults = el("ul", { class: "search-results", id: "search-results",
    "aria-label": "Search results" });
  const extra = el("div", { class: "extra-links", id: "extra-links" },
    [...linked].filter(([key]) => !shown.has(key)).map(([, l]) =>
      recordCheckbox({ ref: l }, l.name || `#${l.id}`, typeLabel(l.type), { checked: true })));
  searchInput.addEventListener("input", () => actions.search(searchInput.value, searchResults, extra));
  const thread = data.thread || {};
  const autoSave = el("input", { type: "checkbox", id: "auto-save-thread", checked: !!thread.auto_save });
  const saveButton = el("button", { class: screened ? "btn" : "btn primary", type: "button",
    id: "save", onclick: () => actions.save(autoSave.checked) },
  saved ? "Save links again" : screened ? "Save this email" : "Save to CRM");
  if (saved) {
    autoSave.addEventListener("change", () => actions.toggleThread(autoSave.checked, autoSave));
  }
  const searchSection = section("Link another record", "search", searchInput, extra, searchResults);
  searchSection.addEventListener("keydown", (e) => moveInResults(e, searchInput, searchResults));
  const saveBar = el("section", { class: "save-bar" },
    el("div", { class: "pick-row" }, autoSave,
      el("label", { for: "auto-save-thread" }, "Auto-save this thread",
        el("span", { class: "rec-sub" }, "Its emails, earlier and future, are saved to the same records."))),
    el("div", { class: "row" }, saveButton, el("span", { id: "save-msg", role: "status" })));
  const saving = screened
    ? el("details", { class: "card save-anyway", id: "save-anyway" },
      el("summary", {}, "Save it anyway…"),
      el("p", { class: "rec-sub" }, "Tick the records above, or find one here, then save."),
      searchSection, saveBar)
    : [searchSection, saveBar];
  replace(root,
    el("h2", { class: "subject" }, data.item && data.item.subject ? data.item.subject : "(no subject)"),
    savedBanner(data.saved),
    whyNote(data.why, actions),
    section("People", "people", participants),
    accounts.length ? section("Account", "accounts", accounts) : null,
    opps.length ? section("Opportunities", "opps", groupWhy
      ? el("p", { class: "p-reason", id: "opps-reason" }, groupWhy.reason_text) : null, opps) : null,
    ...[saving].flat(),
    blockSection(data.participants || [], actions),
    el("footer", { class: "pane-foot" },
      btn("small subtle", "My settings", () => actions.settings(), { id: "my-settings" })),
  );
  if (saved) root.querySelectorAll("input.pick:checked").forEach((b) => { b.disabled = true; });
}

/** "Don't sync" comes after Save in the tab order; a whole domain asks first. */
function blockSection(people, actions) {
  const rows = people.filter((p) => !["blocked", "internal", "invalid"].includes(p.class))
    .map((p) => {
      const confirm = el("div", { class: "confirm" });
      const all = `Don't sync @${p.domain}`;
      const domain = p.domain && p.class !== "personal" && btn("small subtle", all,
        () => confirm.replaceChildren(
          el("p", {}, `Stop syncing everyone at ${p.domain}? (Undo in My settings.)`),
          btn("small", all, () => actions.block(p, p.domain), { id: "confirm-block" }),
          btn("small subtle", "Cancel", () => confirm.replaceChildren())),
        { "aria-label": `Do not sync anyone at ${p.domain}` });
      return el("li", {}, el("span", { class: "rec-name" }, p.name || p.address),
        el("div", { class: "p-actions" }, btn("small subtle", "Don't sync",
          () => actions.block(p, p.address), { "aria-label": `Do not sync ${p.address}` }), domain),
        confirm);
    });
  return rows.length ? el("details", { class: "card block-card", id: "dont-sync" },
    el("summary", {}, "Don't sync someone…"), el("ul", { class: "participants" }, rows)) : null;
}

const btn = (cls, text, onclick, attrs) =>
  el("button", { class: `btn ${cls}`, type: "button", onclick, ...attrs }, text);

export function renderSearchResults(list, extra, hits, onLink) {
  const groups = {};
  for (const h of hits) (groups[h.ref.type] ||= []).push(h);
  list.replaceChildren(...Object.entries(groups).flatMap(([type, group]) => [
    el("li", { class: "group", role: "presentation" }, `${typeLabel(type).replace(/y$/, "ie")}s`),
    ...group.map((h) => el("li", {},
      el("span", { class: "rec-name" }, h.name),
      el("span", { class: "rec-sub" }, h.subtitle || typeLabel(type)),
      el("button", { class: "btn small", type: "button", "aria-label": `Link ${h.name}`,
        onclick: (e) => {
          const sel = `[data-id="${CSS.escape(String(h.ref.id))}"][data-type="${CSS.escape(type)}"]`;
          if (!extra.querySelector(sel)) {
            extra.append(recordCheckbox(h, h.name, typeLabel(type), { checked: true }));
          }
          onLink(h, e.currentTarget);
        } }, "Link"))),
  ]));
  if (!hits.length) list.replaceChildren(el("li", { class: "muted" }, "No records found."));
}

/** Arrows move between the search box and the results' buttons; Escape goes back. */
function moveInResults(e, input, list) {
  const buttons = [input, ...list.querySelectorAll("button:not(:disabled)")];
  const at = buttons.indexOf(document.activeElement);
  if (at < 0) return;
  const to = { ArrowDown: at + 1, ArrowUp: at - 1 }[e.key];
  if (e.key === "Escape") {
    input.focus();
    if (at === 0) { input.value = ""; list.replaceChildren(); }
  } else if (to === undefined || !buttons[to]) return;
  else buttons[to].focus();
  e.preventDefault();
}

/** Every ticked record, without repeats: what Save sends. */
export function chosenLinks(root) {
  const seen = new Set();
  const out = [];
  for (const box of root.querySelectorAll("input.pick:checked")) {
    const key = `${box.dataset.type}:${box.dataset.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ type: box.dataset.type, id: box.dataset.id });
  }
  return out;
}

export function setMessage(root, text, tone = "") {
  const node = root.querySelector("#save-msg");
  if (node) {
    node.textContent = text;
    node.className = tone;
  }
}

export function formatAmount(o) {
  if (o.amount == null) return "";
  try {
    return new Intl.NumberFormat(undefined, o.currency ? { style: "currency",
      currency: o.currency, maximumFractionDigits: 0 } : { maximumFractionDigits: 0 })
      .format(o.amount);
  } catch (_err) {
    return `${o.amount} ${o.currency || ""}`.trim();
  }
}
