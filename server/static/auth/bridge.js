// Sign-in dialog bridge: hand the one-time code to the task pane that opened this dialog
// (Office dialog API). The CRM connect dialog ends on the same bridge: #crm-bridge carries its
// outcome as JSON.
//
// In Outlook, Office.js resolves onReady with a host and messageParent delivers the message.
// Outside an Office host (a plain browser, the /preview page's simulated Outlook) the real
// Office.js resolves onReady with host null and has no messageParent (checked with
// @microsoft/office-js in Chromium); the message then goes by postMessage to the window that
// opened this one, addressed to our own origin only, so that nothing but our preview's
// simulated Office (addin/preview/office-sim.js) can receive it. Without an opener the page
// simply shows "signed in" and a link.
const root = document.getElementById("signin-bridge");
const code = root ? root.dataset.code : "";
const crmRoot = document.getElementById("crm-bridge");
const crmMessage = crmRoot ? crmRoot.dataset.message : "";
const SIM_DIALOG_MESSAGE = "courier-office-dialog";

function officeMessageParent(info) {
  const office = globalThis.Office;
  const ui = office && office.context && office.context.ui;
  if (!info || !info.host || !ui || typeof ui.messageParent !== "function") return null;
  return (message) => ui.messageParent(message);
}

function openerPostMessage() {
  const opener = window.opener;
  if (!opener || opener === window) return null;
  return (message) =>
    opener.postMessage({ type: SIM_DIALOG_MESSAGE, message }, window.location.origin);
}

function sendToPane(info) {
  const status = document.getElementById("bridge-status");
  const message = code ? JSON.stringify({ type: "courier-signin", code }) : crmMessage;
  const send = message ? officeMessageParent(info) || openerPostMessage() : null;
  if (!send) {
    if (status) status.textContent = "";
    return;
  }
  send(message);
  if (status) status.textContent = "You can close this window.";
}

if (globalThis.Office && typeof globalThis.Office.onReady === "function") {
  globalThis.Office.onReady(sendToPane);
} else {
  sendToPane(null); // Office.js could not be loaded (no network): no Office host either
}
