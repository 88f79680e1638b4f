// Undoing a save from the saved banner: "Unlink" beside each linked record, and "Remove from
// CRM…" for an email saved by mistake, confirmed in place (Escape or Cancel backs out). Both
// act on the CRM; the pane then shows again what the CRM holds.
import { el } from "./render.js";

const button = (text, onclick, attrs) =>
  el("button", { class: "btn small subtle", type: "button", onclick, ...attrs }, text);

export function decorateSaved(root, data, act) {
  const banner = root.querySelector("#saved-state");
  if (!banner || !data.saved || data.saved.status !== "saved") return;
  const links = data.saved.links || [];
  banner.querySelectorAll("ul.links > li").forEach((li, i) => {
    const link = links[i];
    if (!link) return;
    const name = link.name || `#${link.id}`;
    li.append(" ", button("Unlink", (e) => act.unlink({ type: link.type, id: link.id }, e.target),
      { class: "btn small subtle unlink", "aria-label": `Unlink ${name}` }));
  });
  const slot = el("div", { class: "remove-slot" });
  const ask = () => {
    const cancel = button("Cancel", () => { slot.replaceChildren(start); start.focus(); });
    const confirm = el("div", { class: "confirm", role: "group", "aria-label": "Remove from CRM" },
      el("p", {}, "Delete this email from the CRM? Nothing will save it again unless you save it yourself."),
      el("button", { class: "btn small danger", type: "button", id: "confirm-remove",
        onclick: (e) => act.remove(e.target) }, "Remove from CRM"), " ", cancel);
    confirm.addEventListener("keydown", (e) => { if (e.key === "Escape") cancel.click(); });
    slot.replaceChildren(confirm);
    cancel.focus();
  };
  const start = button("Remove from CRM…", ask, { id: "remove-from-crm" });
  slot.append(start);
  banner.append(slot);
}
