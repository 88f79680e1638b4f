// A simulated Office.js for the preview and the browser tests: the read-mode mailbox item
// (with body.getAsync and convertToRestId), ItemChanged, and the dialog API. It is loaded in
// place of Microsoft's office.js only by the preview, in the pane (see server/preview.py); the
// dialog's pages keep the real Office.js.
(function () {
  "use strict";

  const SUPPORTED_MAILBOX = [1, 13];
  const Status = { Succeeded: "succeeded", Failed: "failed" };
  const EventType = {
    ItemChanged: "olkItemSelectedChanged",
    DialogMessageReceived: "dialogMessageReceived",
    DialogEventReceived: "dialogEventReceived",
  };

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

  let cachedItem = null;
  let cachedFor = null;

  function buildItem(message) {
    if (!message) return null;
    if (cachedFor === message) return cachedItem;
    const item = {
      itemType: "message",
      itemId: message.id,
      internetMessageId: message.internetMessageId || "",
      conversationId: message.conversationId || "",
      subject: message.subject || "",
      normalizedSubject: (message.subject || "").replace(/^((re|fw|fwd):\s*)+/i, ""),
      from: details(message.from),
      sender: details(message.from),
      to: (message.to || []).map(details),
      cc: (message.cc || []).map(details),
      dateTimeCreated: message.date ? new Date(message.date) : new Date(),
      dateTimeModified: message.date ? new Date(message.date) : new Date(),
      attachments: [],
      body: {
        getAsync() {
          const cb = callbackOf(arguments);
          later(() => cb && cb({ status: Status.Succeeded, value: message.body || "" }));
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

  function openDialog(url, options, callback) {
    const popup = window.open(url, "courier-office-dialog", "width=480,height=680");
    if (!popup) {
      later(() => callback({ status: Status.Failed, error: { code: 12009, message: "Popup blocked." } }));
      return;
    }
    const listeners = {};
    const dialog = {
      addEventHandler(type, fn) {
        (listeners[type] = listeners[type] || []).push(fn);
      },
      close() {
        clearInterval(watch);
        window.removeEventListener("message", onMessage);
        try {
          popup.close();
        } catch (_err) {
          // already closed
        }
      },
      messageChild() {},
    };
    const emit = (type, arg) => (listeners[type] || []).forEach((fn) => fn(arg));
    // The dialog's pages load the real Office.js, which outside Outlook has no messageParent;
    // our bridge page then posts {type: "courier-office-dialog", message} to its opener,
    // addressed to our origin (server/static/auth/bridge.js). Only that popup is listened to.
    const onMessage = (event) => {
      const data = event.data;
      if (event.source !== popup || event.origin !== window.location.origin) return;
      if (!data || data.type !== "courier-office-dialog") return;
      emit(EventType.DialogMessageReceived, { message: String(data.message), origin: event.origin });
    };
    window.addEventListener("message", onMessage);
    const watch = setInterval(() => {
      if (popup.closed) {
        clearInterval(watch);
        window.removeEventListener("message", onMessage);
        emit(EventType.DialogEventReceived, { error: 12006 });
      }
    }, 300);
    later(() => callback({ status: Status.Succeeded, value: dialog }));
  }

  function messageParent(message) {
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
  const ready = new Promise((resolve) => {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", () => resolve(readyInfo), { once: true });
    } else resolve(readyInfo);
  });

  window.Office = {
    AsyncResultStatus: Status,
    CoercionType: { Text: "text", Html: "html" },
    EventType,
    HostType: { Outlook: "Outlook" },
    MailboxEnums: { RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" } },
    context: {
      mailbox,
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
