// The ONLY module that touches Office.js: it turns the open Outlook item into the plain
// payload our API takes, and wraps events and the dialog API in promises.

const BODY_CAP_CHARS = 32000; // the server truncates further; this keeps requests small
const MOBILE_HOSTS = new Set(["OutlookIOS", "OutlookAndroid"]);

function office() {
  return typeof window.Office === "undefined" ? null : window.Office;
}

function mailbox() {
  const o = office();
  return o && o.context ? o.context.mailbox : null;
}

/** Resolves once Office.js is ready (in a plain browser it resolves with host null). */
export function ready() {
  const o = office();
  if (!o || typeof o.onReady !== "function") {
    return Promise.resolve({ host: null, platform: null, office: false });
  }
  return o.onReady().then((info) => ({ ...(info || {}), office: true }));
}

function address(details) {
  if (!details) return null;
  return { address: details.emailAddress || "", name: details.displayName || "" };
}

function isoDate(value) {
  if (!value) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function supports(version) {
  const o = office();
  const req = o && o.context && o.context.requirements;
  return !!(req && req.isSetSupported && req.isSetSupported("Mailbox", version));
}

function restId(item) {
  const mb = mailbox();
  if (!item.itemId) return "";
  const host = (mb.diagnostics && mb.diagnostics.hostName) || "";
  // On mobile the id is already REST-formatted, and convertToRestId is unsupported there.
  if (MOBILE_HOSTS.has(host) || typeof mb.convertToRestId !== "function") return item.itemId;
  try {
    return mb.convertToRestId(item.itemId, office().MailboxEnums.RestVersion.v2_0);
  } catch (_err) {
    return "";
  }
}

function bodyText(item) {
  const o = office();
  if (!item.body || typeof item.body.getAsync !== "function" || !supports("1.3")) {
    return Promise.resolve("");
  }
  return new Promise((resolve) => {
    item.body.getAsync(o.CoercionType.Text, {}, (result) => {
      const ok = result && result.status === o.AsyncResultStatus.Succeeded;
      const text = ok && typeof result.value === "string" ? result.value : "";
      resolve(text.slice(0, BODY_CAP_CHARS));
    });
  });
}

/** The selected item as our API payload, or null when nothing (or no message) is selected. */
export async function currentItem() {
  const mb = mailbox();
  const item = mb ? mb.item : null;
  if (!item) return null;
  const recipients = (list) => (Array.isArray(list) ? list.map(address).filter(Boolean) : []);
  return {
    subject: item.subject || "",
    from: address(item.from || item.sender),
    to: recipients(item.to),
    cc: recipients(item.cc),
    date: isoDate(item.dateTimeCreated),
    internet_message_id: item.internetMessageId || null,
    conversation_id: item.conversationId || "",
    item_id: restId(item),
    body: await bodyText(item),
  };
}

/** The signed-in Outlook user (for the status line before our own sign-in). */
export function userProfile() {
  const mb = mailbox();
  const p = mb && mb.userProfile;
  return p ? { name: p.displayName || "", email: p.emailAddress || "" } : null;
}

/** Calls `handler` whenever the pinned pane's selection changes (Mailbox 1.5). */
export function onItemChanged(handler) {
  const o = office();
  const mb = mailbox();
  if (!mb || typeof mb.addHandlerAsync !== "function") return false;
  mb.addHandlerAsync(o.EventType.ItemChanged, () => handler());
  return true;
}

/** Opens `url` in an Office dialog; resolves with the first message the dialog sends. */
export function openDialog(url) {
  const o = office();
  if (!o || !o.context || !o.context.ui || !o.context.ui.displayDialogAsync) {
    return Promise.reject(new Error("This Outlook cannot open a dialog window."));
  }
  return new Promise((resolve, reject) => {
    const options = { height: 60, width: 30, promptBeforeOpen: false };
    o.context.ui.displayDialogAsync(url, options, (result) => {
      if (result.status !== o.AsyncResultStatus.Succeeded) {
        reject(new Error((result.error && result.error.message) || "The window did not open."));
        return;
      }
      const dialog = result.value;
      dialog.addEventHandler(o.EventType.DialogMessageReceived, (arg) => {
        dialog.close();
        resolve(String(arg.message || ""));
      });
      dialog.addEventHandler(o.EventType.DialogEventReceived, () => {
        reject(new Error("The window was closed before it finished."));
      });
    });
  });
}
