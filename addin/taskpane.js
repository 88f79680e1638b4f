// Wiring only: Office ready -> sign-in state -> load the selected item -> render; handlers for
// the buttons call api.js and re-render. Stale responses (the user moved on) are discarded.

import * as api from "./api.js";
import * as mailbox from "./mailbox.js";
import * as render from "./render.js";
import { showSettings } from "./settings.js";
import { peopleOf, showCards } from "./cards.js";
import { decorateSaved } from "./unsave.js";

const DEBOUNCE_MS = 80;
const PENDING_POLL_MS = 2000;
// ItemChanged is not raised in every case (docs-pr outlook/pinnable-taskpane.md): the pane also
// looks at the selected item this often, and every action checks it first.
const SELECTION_CHECK_MS = 1500;
const CHANGED_NOTICE = "The selected email changed: this is the email now selected. " +
  "Check the records, then save again.";

const root = document.getElementById("app");
const statusLine = document.getElementById("status");

let current = null; // {seq, item, data, identity}
let loading = null; // identity of the item being loaded or shown
let notice = ""; // said after the next render
let seq = 0;
let inflight = null;
let debounceTimer = null;
let pollTimer = null;
let searchTimer = null;
let searchSeq = 0; // answers to an older query (or for another email) are dropped
let lastStatus = null; // the last status line (its crm part: label, connection state)
let lastBlocked = null; // the entry the user just blocked: its rows offer "Undo"

function signedOut(message) {
  current = null;
  render.renderStatus(statusLine, null);
  render.showSignedOut(root, signIn, message);
}

function fail(err, retry) {
  if (err.code === "aborted") return;
  if (err.signedOut) {
    signedOut("Your session ended. Please sign in again.");
    return;
  }
  if (err.code === "crm_reauth") { // the CRM login was revoked or expired meanwhile
    const status = lastStatus || {};
    const crm = { ...(status.crm || { label: "CRM" }), needs_reauth: true, connected: false };
    if (lastStatus) paintStatus({ ...status, crm });
    needConnect(crm);
    return;
  }
  render.showError(root, err.message, retry);
}

async function signIn() {
  try {
    const message = await mailbox.openDialog(api.signInDialogUrl()).message;
    const result = await api.exchangeCode(oneTimeCode(message));
    api.setSession(result.token);
    scheduleLoad(0);
  } catch (err) {
    signedOut(err.message || "Sign-in did not finish.");
  }
}

async function signOut() {
  try {
    await api.signOut();
  } catch (_err) {
    // the session is dropped locally whatever the server answered
  }
  api.setSession(null);
  signedOut();
}

function paintStatus(status) {
  const owner = mailbox.userProfile();
  render.renderStatus(statusLine, status, signOut, disconnectCrm, syncNow, owner && owner.email);
}

async function syncNow() {
  try {
    const health = await api.syncNow();
    paintStatus({ ...lastStatus, sync: { ...lastStatus.sync, state: health.state,
      label: health.enqueued ? "Sync queued" : "Sync already queued" } });
  } catch (err) {
    if (err.signedOut) fail(err);
  }
}

function needConnect(crm, message) {
  current = null;
  render.showConnectCrm(root, crm, connectCrm, message);
}

// The CRM dialog opens in the click (later is blocked: 12011) and ends on our bridge page,
// which sends {"type": "courier-crm", "connected": true|false, "message": ...}.
async function connectCrm() {
  const crm = (lastStatus && lastStatus.crm) || { label: "CRM" };
  const ticket = api.newDialogTicket();
  const dialog = mailbox.openDialog(api.crmDialogUrl(ticket));
  const outcome = dialog.message.then(crmOutcome, (error) => ({ error }));
  try {
    await api.crmConnectDialog(ticket);
  } catch (err) {
    dialog.close();
    if (err.signedOut) fail(err);
    else needConnect(crm, err.message || "The connection did not start.");
    return;
  }
  const result = await outcome;
  if (result.connected) scheduleLoad(0);
  else if (result.error) needConnect(crm, result.error.message || "The connection did not finish.");
  else needConnect(crm, result.message || `${crm.label} was not connected.`);
}

async function disconnectCrm() {
  try {
    await api.crmDisconnect();
  } catch (err) {
    if (err.signedOut) return fail(err);
    if (err.code !== "not_connected") return render.setMessage(root, err.message, "error-text");
  }
  scheduleLoad(0);
}

function crmOutcome(message) {
  try {
    const data = JSON.parse(message);
    if (data && data.type === "courier-crm") return data;
  } catch (_err) {
    // not our message
  }
  return { connected: false };
}

// The dialog sends {"type": "courier-signin", "code": ...} as JSON (or the bare code).
function oneTimeCode(message) {
  try {
    const data = JSON.parse(message);
    if (data && typeof data.code === "string") return data.code;
  } catch (_err) {
    // not JSON: the message is the code itself
  }
  return message;
}

function scheduleLoad(delay = DEBOUNCE_MS) {
  clearTimeout(debounceTimer);
  debounceTimer = setTimeout(load, delay);
}

async function load() {
  clearTimeout(pollTimer);
  if (inflight) inflight.abort();
  const mySeq = ++seq;
  if (!api.hasSession()) {
    loading = null;
    signedOut();
    return;
  }
  const identity = mailbox.itemIdentity();
  loading = identity;
  const item = await mailbox.currentItem();
  if (mySeq !== seq) return;
  if (!item) {
    current = null;
    render.showEmpty(root);
    return;
  }
  render.showLoading(root);
  inflight = new AbortController();
  try {
    const data = await api.suggestions(item, { signal: inflight.signal });
    if (mySeq !== seq) return; // the selection changed while we waited: drop it
    show(mySeq, item, data, identity);
  } catch (err) {
    if (mySeq === seq) fail(err, () => scheduleLoad(0));
  }
}

// The email the pane shows is still the one selected in Outlook; when it is not, the pane
// loads the selected one (and says why) instead of acting on the other.
function stillSelected() {
  if (current && mailbox.itemIdentity() === current.identity) return true;
  notice = CHANGED_NOTICE;
  scheduleLoad(0);
  return false;
}

function watchSelection() {
  setInterval(() => {
    if (loading !== null && api.hasSession() && mailbox.itemIdentity() !== loading) {
      scheduleLoad(0);
    }
  }, SELECTION_CHECK_MS);
}

function show(mySeq, item, data, identity) {
  const crm = (data.status && data.status.crm) || null;
  lastStatus = data.status || null;
  paintStatus(data.status);
  document.body.dataset.itemKey = data.item ? data.item.key : "";
  if (crm && crm.connect_required) {
    needConnect(crm);
    return;
  }
  current = { seq: mySeq, item, data, identity };
  render.showSuggestions(root, data, actions);
  if (notice) render.setMessage(root, notice, "error-text");
  notice = "";
  if (data.saved && data.saved.status === "pending") pollPending(mySeq);
  decorateSaved(root, data, undo);
  loadCards(mySeq, data);
}

// Unlink / remove from CRM (unsave.js): done in the CRM, then the pane shows what it holds.
async function undoSave(call, button, done) {
  if (!current || !stillSelected()) return;
  const { seq: mySeq, item } = current;
  button.disabled = true;
  try {
    await call(item);
    const data = await api.suggestions(item);
    if (!current || current.seq !== mySeq) return;
    show(mySeq, item, data, current.identity);
    render.setMessage(root, done);
  } catch (err) {
    button.disabled = false;
    if (err.signedOut || err.code === "crm_reauth") fail(err);
    else render.setMessage(root, err.message, "error-text");
  }
}

const undo = {
  unlink: (ref, button) => undoSave((item) => api.unlink(item, [ref]), button, "Unlinked."),
  remove: (button) => undoSave((item) => api.removeFromCrm(item), button,
    "Removed from the CRM. It will not be saved again unless you save it."),
};

// The cards come after the suggestions are drawn; a failure leaves the pane as it is.
async function loadCards(mySeq, data) {
  const people = peopleOf(data);
  root.dataset.cards = people.length ? "loading" : "none";
  if (!people.length) return;
  try {
    const { cards } = await api.cards(people);
    if (current && current.seq === mySeq && current.data === data) showCards(root, cards);
  } catch (_err) {
    // the card is extra information: the suggestions stay usable without it
    if (current && current.seq === mySeq) root.dataset.cards = "failed";
  }
}

function pollPending(mySeq) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    if (!current || current.seq !== mySeq) return;
    try {
      const saved = await api.savedState(current.item);
      if (!current || current.seq !== mySeq) return;
      if (saved.status === "pending") pollPending(mySeq);
      else scheduleLoad(0);
    } catch (_err) {
      pollPending(mySeq);
    }
  }, PENDING_POLL_MS);
}

const actions = {
  async save(autoSaveThread) {
    if (!current || !stillSelected()) return;
    const { seq: mySeq, item } = current;
    const links = render.chosenLinks(root);
    if (!links.length) {
      render.setMessage(root, "Tick at least one record to link.", "error-text");
      return;
    }
    render.setMessage(root, "Saving…");
    try {
      const result = await api.save(item, links, autoSaveThread);
      if (!current || current.seq !== mySeq) return;
      const note = result.status === "already_saved" ? "Already saved." : "";
      const data = await api.suggestions(item);
      if (!current || current.seq !== mySeq) return;
      show(mySeq, item, data, current.identity);
      if (note) render.setMessage(root, note);
    } catch (err) {
      if (err.signedOut || err.code === "crm_reauth") fail(err);
      else render.setMessage(root, err.message, "error-text");
    }
  },

  async toggleThread(enabled, box) {
    if (!current) return;
    if (!stillSelected()) {
      box.checked = !enabled;
      return;
    }
    const links = (current.data.saved && current.data.saved.links) || [];
    try {
      await api.setThreadAutoSave(current.data.thread.conversation_id, enabled,
        links.map((l) => ({ type: l.type, id: l.id })));
      render.setMessage(root, enabled ? "This thread now saves itself." : "Thread auto-save is off.");
    } catch (err) {
      box.checked = !enabled;
      render.setMessage(root, err.message, "error-text");
    }
  },

  async block(participant, entry) {
    try {
      await api.blockEntry(entry);
      lastBlocked = entry;
      scheduleLoad(0);
    } catch (err) {
      render.setMessage(root, err.message, "error-text");
    }
  },

  undoEntry(p) {
    return lastBlocked && (p.address === lastBlocked || p.domain === lastBlocked)
      ? lastBlocked : null;
  },

  async unblock(entry) {
    try {
      await api.unblockEntry(entry);
      lastBlocked = null;
      scheduleLoad(0);
    } catch (err) {
      render.setMessage(root, err.message, "error-text");
    }
  },

  settings() {
    clearTimeout(pollTimer);
    current = null;
    loading = null; // the selection watcher leaves the settings open
    showSettings(root, () => scheduleLoad(0));
  },

  create(participant, kind) {
    const row = root.querySelector(`li.participant[data-address="${CSS.escape(participant.address)}"]`);
    const container = row && row.querySelector(".p-form");
    if (!container) return;
    render.createForm(container, participant, kind, async (form, showError) => {
      const draft = { name: form.name, email: form.email, company: form.company || "" };
      try {
        if (kind === "lead") await api.createLead(draft);
        else await api.createContact(draft);
        scheduleLoad(0);
      } catch (err) {
        showError(err.message);
      }
    }, () => container.replaceChildren());
  },

  // Linked from search: on a saved email at once, else ticked for Save; said in place.
  async link(hit, button) {
    Object.assign(button, { disabled: true, textContent: "Linking…" });
    const saved = current && current.data.saved && current.data.saved.status === "saved";
    if (!saved) {
      button.textContent = "Ticked ✓";
      return;
    }
    try {
      await api.save(current.item, render.chosenLinks(root), false);
      const { links } = (await api.suggestions(current.item)).saved;
      const box = root.querySelector(`#extra-links input[data-id="${CSS.escape(hit.ref.id)}"]`);
      const done = links.some((l) => l.type === hit.ref.type && String(l.id) === hit.ref.id);
      button.textContent = done ? "Linked ✓" : "Not linked";
      if (box) Object.assign(box, { checked: done, disabled: done });
      if (!done) render.setMessage(root, `The CRM did not link ${hit.name}.`, "error-text");
    } catch (err) {
      button.disabled = false;
      render.setMessage(root, err.message, "error-text");
    }
  },

  search(text, list, extra) {
    clearTimeout(searchTimer);
    const mySearch = ++searchSeq;
    const query = text.trim();
    if (query.length < 2) {
      list.replaceChildren();
      return;
    }
    searchTimer = setTimeout(async () => {
      try {
        const result = await api.search(query);
        if (mySearch !== searchSeq || !list.isConnected) return;
        render.renderSearchResults(list, extra, result.results || [], actions.link);
      } catch (err) {
        if (mySearch !== searchSeq || !list.isConnected) return;
        list.replaceChildren(render.el("li", { class: "error-text" }, err.message));
      }
    }, 250);
  },
};

// Remember a different pick for an address, so it becomes the default next time.
root.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.classList.contains("pick")) return;
  if (box.checked && box.dataset.address) {
    api.rememberChoice(box.dataset.address, { type: box.dataset.type, id: box.dataset.id })
      .catch((err) => render.setMessage(root, `Could not remember this choice: ${err.message}`,
        "error-text"));
  }
});

mailbox.ready().then(() => {
  const profile = mailbox.userProfile();
  api.useMailbox(mailbox.storagePrefix(), profile ? profile.email : "");
  mailbox.onItemChanged(() => scheduleLoad());
  watchSelection();
  load();
}, (err) => render.showUnsupported(root, err.message));
