// Loaded only by browsers without JavaScript modules (<script nomodule>): the Internet Explorer
// webview that Outlook 2016/2019 and older may use for add-ins on Windows, where supported
// versions use Microsoft Edge WebView2 (docs-pr concepts/browsers-used-by-office-web-add-ins.md,
// 08/19/2026). The pane cannot run there; say so instead of "Starting Courier…" forever. ES5.
(function () {
  var app = document.getElementById("app");
  if (!app) return;
  var box = document.createElement("div");
  box.className = "state state-error state-unsupported";
  box.setAttribute("role", "alert");
  var title = document.createElement("h2");
  title.appendChild(document.createTextNode("Courier can't start here"));
  var text = document.createElement("p");
  text.appendChild(document.createTextNode(
    "This version of Outlook shows add-ins with Internet Explorer, which Courier does not " +
    "support. Use Outlook on the web, the new Outlook for Windows, or a supported Outlook " +
    "for Windows (Microsoft 365, or Outlook 2021 or later), which uses Microsoft Edge."));
  box.appendChild(title);
  box.appendChild(text);
  while (app.firstChild) app.removeChild(app.firstChild);
  app.appendChild(box);
  app.setAttribute("aria-busy", "false");
})();
