// Sign-in dialog bridge: hand the one-time code to the task pane that opened this dialog
// (Office dialog API). Outside Office the page simply shows "signed in" and a link.
// The CRM connect dialog ends on the same bridge: #crm-bridge carries its outcome as JSON.
const root = document.getElementById("signin-bridge");
const code = root ? root.dataset.code : "";
const crmRoot = document.getElementById("crm-bridge");
const crmMessage = crmRoot ? crmRoot.dataset.message : "";

function sendToPane() {
  const status = document.getElementById("bridge-status");
  const office = globalThis.Office;
  const message = code ? JSON.stringify({ type: "courier-signin", code }) : crmMessage;
  if (!message || !office || !office.context || !office.context.ui ||
      typeof office.context.ui.messageParent !== "function") {
    if (status) status.textContent = "";
    return;
  }
  office.context.ui.messageParent(message);
  if (status) status.textContent = "You can close this window.";
}

if (globalThis.Office && typeof globalThis.Office.onReady === "function") {
  globalThis.Office.onReady(sendToPane);
} else {
  sendToPane();
}
