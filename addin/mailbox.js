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

// The pane needs the dialog API (Mailbox 1.4, the manifest's minimum); ItemChanged (1.5) is
// feature-detected. docs-ref requirement-sets/outlook/outlook-api-requirement-sets.md
export const MIN_MAILBOX = "1.4";
const READY_TIMEOUT_MS = 15000; // Office.js on a slow client can take several seconds

export class OfficeError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "OfficeError";
    this.code = code;
  }
}

/** Resolves once Office.js is ready (in a plain browser it resolves with host null). Rejects
 * with an OfficeError when onReady never resolves (Office.js could not load: an unsupported
 * client or webview, or a blocked script) or when this Outlook lacks the minimum set. */
export function ready(timeoutMs = READY_TIMEOUT_MS) {
  const o = office();
  if (!o || typeof o.onReady !== "function") {
    return Promise.resolve({ host: null, platform: null, office: false });
  }
  let timer;
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new OfficeError("office_timeout",
      "Outlook did not start Courier. This version of Outlook, or the browser or webview it " +
      "uses, is not supported: use Outlook on the web, the new Outlook for Windows, or an " +
      "up-to-date Outlook for Windows, Mac, iOS or Android.")), timeoutMs);
  });
  const started = o.onReady().then((info) => {
    const inOutlook = !!(info && info.host);
    if (inOutlook && !supports(MIN_MAILBOX)) {
      throw new OfficeError("unsupported_outlook", `This version of Outlook is too old for ` +
        `Courier (it needs Mailbox ${MIN_MAILBOX} or later). Update Outlook, or use Outlook ` +
        "on the web.");
    }
    return { ...(info || {}), office: true };
  });
  return Promise.race([started, timeout]).finally(() => clearTimeout(timer));
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

/** What identifies the selected item now ("" for nothing selected), read synchronously: the
 * pane compares it before every action, since ItemChanged is not raised in every case. */
export function itemIdentity() {
  const mb = mailbox();
  const item = mb ? mb.item : null;
  if (!item) return "";
  return item.itemId || item.internetMessageId ||
    `${item.subject || ""}|${isoDate(item.dateTimeCreated) || ""}`;
}

/** The selected item as our API payload, or null when nothing (or no message) is selected.
 * Office.js has no sent date in read mode and may withhold a recently sent item's
 * internetMessageId: the server reads both from Graph with item_id (docs-ref
 * office.messageread.yml), so `created` is only a fallback. */
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
    created: isoDate(item.dateTimeCreated),
    internet_message_id: item.internetMessageId || null,
    conversation_id: item.conversationId || "",
    item_id: restId(item),
    body: await bodyText(item),
  };
}

/** The mailbox open in Outlook (its address keys the stored session). */
export function userProfile() {
  const mb = mailbox();
  const p = mb && mb.userProfile;
  return p ? { name: p.displayName || "", email: (p.emailAddress || "").toLowerCase() } : null;
}

/** The prefix for localStorage keys: Office.context.partitionKey where storage is partitioned
 * (undefined elsewhere). docs-pr develop/persisting-add-in-state-and-settings.md */
export function storagePrefix() {
  const o = office();
  const key = o && o.context ? o.context.partitionKey : undefined;
  return typeof key === "string" ? key : "";
}

/** Calls `handler` whenever the pinned pane's selection changes (Mailbox 1.5). */
export function onItemChanged(handler) {
  const o = office();
  const mb = mailbox();
  if (!mb || typeof mb.addHandlerAsync !== "function" || !supports("1.5")) return false;
  mb.addHandlerAsync(o.EventType.ItemChanged, () => handler());
  return true;
}

// What each displayDialogAsync error means for the user (docs-pr
// develop/dialog-handle-errors-events.md).
const DIALOG_ERRORS = {
  12004: "The window's address is not on Courier's own domain. Ask your admin to check the " +
    "add-in's manifest (AppDomains).",
  12005: "The window's address is not HTTPS. Ask your admin to serve Courier over HTTPS.",
  12006: "The window was closed before it finished.",
  12007: "A Courier window is already open. Finish or close it, then try again.",
  12009: "The window was not allowed to open. Click the button again and choose Allow.",
  12011: "Your browser blocked the window. Allow pop-ups for Outlook, or use another browser, " +
    "then try again.",
};

function dialogError(code, fallback) {
  return new OfficeError(code || "dialog_failed",
    DIALOG_ERRORS[code] || fallback || "The window did not open.");
}

/** Opens `url` in an Office dialog AT ONCE: call it synchronously in the user's click, since a
 * window opened after an await is blocked by the browser (12011). Returns {message, close}:
 * `message` resolves with the first message the dialog sends. */
export function openDialog(url) {
  const o = office();
  let dialog = null;
  let closed = false;
  const close = () => {
    closed = true;
    if (dialog) dialog.close();
  };
  if (!o || !o.context || !o.context.ui || !o.context.ui.displayDialogAsync) {
    return { message: Promise.reject(new OfficeError("no_dialog",
      "This Outlook cannot open a dialog window.")), close };
  }
  const message = new Promise((resolve, reject) => {
    const options = { height: 60, width: 30, promptBeforeOpen: false };
    o.context.ui.displayDialogAsync(url, options, (result) => {
      if (result.status !== o.AsyncResultStatus.Succeeded) {
        const error = result.error || {};
        reject(dialogError(error.code, error.message));
        return;
      }
      dialog = result.value;
      if (closed) dialog.close();
      dialog.addEventHandler(o.EventType.DialogMessageReceived, (arg) => {
        dialog.close();
        resolve(String(arg.message || ""));
      });
      dialog.addEventHandler(o.EventType.DialogEventReceived, (arg) => {
        reject(dialogError((arg && arg.error) || 12006));
      });
    });
  });
  return { message, close };
}
