// A simulated Office.js for the preview and the browser tests: the read-mode mailbox item
// (with body.getAsync and convertToRestId), ItemChanged, and the dialog API. It is loaded in
// place of Microsoft's office.js only by the preview, in the pane (see server/preview.py); the
// dialog's pages keep the real Office.js.
//
// It is as strict as the real thing where Courier has been caught out (issue 16), each rule
// taken from Microsoft's documentation or the @microsoft/office-js library itself:
// - displayDialogAsync (docs-pr develop/dialog-handle-errors-events.md, and the order of the
//   checks in @microsoft/office-js 1.1.110 dist/outlook-web-16.01.debug.js): a second dialog
//   while one is open → 12007; an http:// URL → 12005; a first page on another domain than
//   the pane (protocol and port included) → 12004; with promptBeforeOpen: false, a window the
//   browser blocks because it was not opened in the user's click → 12011.
// - messageParent takes a string, number or boolean only (same library: requiredArguments
//   "types": ["string", "number", "boolean"]).
// - internetMessageId "may not be available yet on recently sent items" in Sent Items
//   (docs-ref outlook/office.messageread.yml); dateTimeCreated is when the item was created in
//   this mailbox, not when it was sent; to/cc return at most 20 recipients in Outlook on the web
//   and new Outlook (collapsed view, same page); body.getAsync returns the format asked for.
// - ItemChanged is not raised in every case (pinning is not supported for appointments, on
//   Outlook.com, or across read/compose: docs-pr outlook/pinnable-taskpane.md): the preview can
//   change the selection without it (CourierPreviewHost.select(id, {itemChanged: false})).
(function () {
  "use strict";

  const SUPPORTED_MAILBOX = [1, 13];
  const RECIPIENTS_SHOWN = 20; // Outlook on the web / new Outlook, collapsed view
  const Status = { Succeeded: "succeeded", Failed: "failed" };
  const EventType = {
    ItemChanged: "olkItemSelectedChanged",
    DialogMessageReceived: "dialogMessageReceived",
    DialogEventReceived: "dialogEventReceived",
  };
  const CoercionType = { Text: "text", Html: "html" };
  const DIALOG_ERRORS = {
    12004: "The domain of the URL is not included in the AppDomains element in the manifest, " +
      "and is not subdomain of source location.",
    12005: "The URL uses the HTTP protocol. HTTPS is required.",
    12007: "A dialog box is already opened from this host window.",
    12011: "The browser blocked the dialog window (it was not opened in the user's action).",
  };
  const USER_GESTURES = new Set(["click", "keydown", "keyup", "keypress", "mouseup",
    "pointerup", "touchend"]);

  // The preview page (this pane's parent) or, inside a dialog, the window that opened it.
  function previewHost() {
    try {
      if (window.parent !== window && window.parent.CourierPreviewHost) {
        return window.parent.CourierPreviewHost;
      }
    } catch (_err) {
      return null; // a cross-origin parent: no preview host
    }
    return null;
  }

  function callbackOf(args) {
    for (let i = args.length - 1; i >= 0; i -= 1) {
      if (typeof args[i] === "function") return args[i];
    }
    return null;
  }

  function later(fn) {
    setTimeout(fn, 0);
  }

  function details(a) {
    return a ? { emailAddress: a.address || "", displayName: a.name || "" } : null;
  }

  function asText(body) {
    const doc = new DOMParser().parseFromString(String(body || ""), "text/html");
    return doc.body ? doc.body.textContent || "" : "";
  }

  function asHtml(body, type) {
    if (type === "html") return String(body || "");
    const div = document.createElement("div");
    div.textContent = String(body || "");
    return `<html><body><div>${div.innerHTML.replace(/\n/g, "<br>")}</div></body></html>`;
  }

  // When the item was created in this mailbox: a sent item's draft was started before it was
  // sent; a received item was created when it arrived, after it was sent.
  function createdAt(message) {
    if (message.created) return new Date(message.created);
    const sent = message.date ? new Date(message.date) : new Date();
    const minutes = message.folder === "sentitems" ? -7 : 3;
    return new Date(sent.getTime() + minutes * 60000);
  }

  function withheldId(message) {
    return message.folder === "sentitems" && !!message.recentlySent;
  }

  let cachedItem = null;
  let cachedFor = null;

  function buildItem(message) {
    if (!message) return null;
    if (cachedFor === message) return cachedItem;
    const bodyType = message.bodyType === "text" ? "text" : "html";
    const item = {
      itemType: "message",
      itemId: message.id,
      internetMessageId: withheldId(message) ? "" : message.internetMessageId || "",
      conversationId: message.conversationId || "",
      subject: message.subject || "",
      normalizedSubject: (message.subject || "").replace(/^((re|fw|fwd):\s*)+/i, ""),
      from: details(message.from),
      sender: details(message.from),
      to: (message.to || []).slice(0, RECIPIENTS_SHOWN).map(details),
      cc: (message.cc || []).slice(0, RECIPIENTS_SHOWN).map(details),
      dateTimeCreated: createdAt(message),
      dateTimeModified: createdAt(message),
      attachments: [],
      body: {
        getAsync(coercionType) {
          const cb = callbackOf(arguments);
          if (coercionType !== CoercionType.Text && coercionType !== CoercionType.Html) {
            later(() => cb && cb({ status: Status.Failed,
              error: { code: 1000, name: "InvalidParameterValueError", message: "coercionType" } }));
            return;
          }
          const value = coercionType === CoercionType.Text
            ? (bodyType === "html" ? asText(message.body) : String(message.body || ""))
            : asHtml(message.body, bodyType);
          later(() => cb && cb({ status: Status.Succeeded, value }));
        },
        getTypeAsync() {
          const cb = callbackOf(arguments);
          later(() => cb && cb({ status: Status.Succeeded, value: bodyType }));
        },
      },
    };
    cachedFor = message;
    cachedItem = item;
    return item;
  }

  function versionAtMost(wanted, max) {
    const parts = String(wanted || "1.1").split(".").map(Number);
    return parts[0] < max[0] || (parts[0] === max[0] && (parts[1] || 0) <= max[1]);
  }

  const handlers = [];

  function fireItemChanged() {
    for (const handler of handlers.slice()) {
      later(() => handler({ type: EventType.ItemChanged }));
    }
  }

  let host = previewHost();
  if (host) host.onItemChanged(fireItemChanged);
  else {
    // Opened before the preview page finished: attach as soon as the host appears.
    const attach = setInterval(() => {
      host = previewHost();
      if (host) {
        clearInterval(attach);
        host.onItemChanged(fireItemChanged);
        fireItemChanged();
      }
    }, 50);
    setTimeout(() => clearInterval(attach), 10000);
  }

  // --- the dialog API ----------------------------------------------------------------------

  let openDialogWindow = null; // one dialog per host window

  function failed(code) {
    return { status: Status.Failed, error: { code, name: "Display Dialog Error",
      message: DIALOG_ERRORS[code] } };
  }

  // Real Outlook never loads a pane over http. Only the local preview under `make run` does
  // (http on a loopback address); there an http dialog on the pane's own origin is let through.
  // The browser tests serve the pane over https, where the rule is strict.
  function insecureDevelopmentPane() {
    const { protocol, hostname } = window.location;
    return protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(hostname);
  }

  function inUserGesture() {
    const event = window.event;
    return !!(event && event.isTrusted && USER_GESTURES.has(event.type));
  }

  function dialogError(url, options) {
    if (openDialogWindow && !openDialogWindow.closed) return 12007;
    let target;
    try {
      target = new URL(url);
    } catch (_err) {
      return 12004; // relative or malformed: not on a trusted domain
    }
    if (target.protocol === "http:" && !insecureDevelopmentPane()) return 12005;
    if (target.protocol !== "https:" && target.protocol !== "http:") return 12004;
    if (target.origin !== window.location.origin) return 12004;
    // With the prompt turned off, Office on the web calls window.open at once, which the
    // browser blocks outside a user gesture (docs-pr develop/dialog-best-practices.md).
    if (options && options.promptBeforeOpen === false && !inUserGesture()) return 12011;
    return 0;
  }

  function openDialog(url, options, callback) {
    const cb = callbackOf(arguments);
    const code = dialogError(url, typeof options === "object" ? options : null);
    if (code) {
      later(() => cb && cb(failed(code)));
      return;
    }
    const popup = window.open(url, "courier-office-dialog", "width=480,height=680");
    if (!popup) {
      later(() => cb && cb(failed(12011)));
      return;
    }
    openDialogWindow = popup;
    const listeners = {};
    const dialog = {
      addEventHandler(type, fn) {
        (listeners[type] = listeners[type] || []).push(fn);
      },
      close() {
        clearInterval(watch);
        window.removeEventListener("message", onMessage);
        openDialogWindow = null;
        try {
          popup.close();
        } catch (_err) {
          // already closed
        }
      },
      messageChild() {},
    };
    const emit = (type, arg) => (listeners[type] || []).forEach((fn) => fn(arg));
    // Delivery follows messageParent's rule: a string, number or boolean only.
    const deliver = (message) => {
      checkMessage(message);
      emit(EventType.DialogMessageReceived, { message: String(message), origin: window.location.origin });
    };
    // Exposed so that the browser tests can check that rule without a dialog page.
    window.__courierSimDialog = { deliver };
    // The dialog's pages load the real Office.js, which outside Outlook has no messageParent;
    // our bridge page then posts {type: "courier-office-dialog", message} to its opener,
    // addressed to our origin (server/static/auth/bridge.js). Only that popup is listened to.
    const onMessage = (event) => {
      const data = event.data;
      if (event.source !== popup || event.origin !== window.location.origin) return;
      if (!data || data.type !== "courier-office-dialog") return;
      try {
        deliver(data.message);
      } catch (err) {
        console.error(err.message);
      }
    };
    window.addEventListener("message", onMessage);
    const watch = setInterval(() => {
      if (popup.closed) {
        clearInterval(watch);
        window.removeEventListener("message", onMessage);
        openDialogWindow = null;
        emit(EventType.DialogEventReceived, { error: 12006 });
      }
    }, 300);
    later(() => cb && cb({ status: Status.Succeeded, value: dialog }));
  }

  function checkMessage(message) {
    const kind = typeof message;
    if (kind !== "string" && kind !== "number" && kind !== "boolean") {
      throw new TypeError(`messageParent: the message must be a string, number or boolean, not ${
        message === null ? "null" : kind}`);
    }
  }

  function messageParent(message) {
    checkMessage(message);
    const opener = window.opener;
    if (!opener) throw new Error("messageParent: this page was not opened as an Office dialog");
    opener.postMessage({ type: "courier-office-dialog", message }, window.location.origin);
  }

  const mailbox = {
    get item() {
      return host ? buildItem(host.selectedMessage()) : null;
    },
    get userProfile() {
      const user = host ? host.user() : null;
      return user ? { displayName: user.name, emailAddress: user.email, timeZone: "UTC" } : null;
    },
    diagnostics: { hostName: "OutlookWebApp", hostVersion: "preview", OWAView: "ThreeColumns" },
    convertToRestId(id) {
      return String(id).replace(/\//g, "-").replace(/\+/g, "_");
    },
    addHandlerAsync(type, handler) {
      const cb = arguments.length > 2 ? callbackOf(Array.prototype.slice.call(arguments, 2)) : null;
      if (type === EventType.ItemChanged) handlers.push(handler);
      if (cb) later(() => cb({ status: Status.Succeeded }));
    },
  };

  const readyInfo = { host: "Outlook", platform: "OfficeOnline" };
  // A test can make onReady never resolve, as when Office.js cannot load in an old webview.
  const stalled = !!window.__courierSimStallOnReady;
  const ready = new Promise((resolve) => {
    if (stalled) return;
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", () => resolve(readyInfo), { once: true });
    } else resolve(readyInfo);
  });

  window.Office = {
    AsyncResultStatus: Status,
    CoercionType,
    EventType,
    HostType: { Outlook: "Outlook" },
    MailboxEnums: { RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" } },
    context: {
      mailbox,
      // A hash of the top window's and the add-in's domains in the real thing: the same for
      // every mailbox open in one Outlook (docs-pr develop/persisting-add-in-state-and-settings.md).
      partitionKey: "sim-partition:",
      requirements: {
        isSetSupported(name, version) {
          return name === "Mailbox" && versionAtMost(version, SUPPORTED_MAILBOX);
        },
      },
      ui: { displayDialogAsync: openDialog, messageParent },
    },
    onReady(callback) {
      return ready.then((info) => {
        if (callback) callback(info);
        return info;
      });
    },
    __simulated: true,
  };
})();
