// A card per matched person, drawn after the suggestions (they stay as fast as before): owner,
// account, last interaction, latest activities, open opportunities (closed ones folded away)
// and "Open in CRM". Text from the CRM goes in as text nodes (render.el), never as HTML.
import { el, formatAmount } from "./render.js";

const day = (iso) => (iso ? new Date(iso).toLocaleDateString([], { dateStyle: "medium" }) : "");
const KIND = { email: "✉", meeting: "📅" };

/** The people of a suggestions answer to ask cards for: every candidate of a matched row. */
export function peopleOf(data) {
  const seen = new Map();
  for (const p of data.participants || []) {
    if (p.class !== "matched") continue;
    for (const c of p.candidates || []) seen.set(`${c.ref.type}:${c.ref.id}`, c.ref);
  }
  return [...seen.values()].slice(0, 25);
}

function opportunity(o) {
  return el("li", { class: "card-opp" },
    el("span", { class: "rec-name" }, o.name),
    el("span", { class: "rec-sub" }, [o.stage, formatAmount(o),
      o.close_date && `${o.is_closed ? "closed" : "closes"} ${day(o.close_date)}`]
      .filter(Boolean).join(" · ")));
}

function card(c) {
  const facts = [
    ["Owner", c.owner ? `${c.owner}${c.owned_by_you ? " (you)" : ""}` : "—"],
    ["Account", (c.account && c.account.name) || "—"],
    ["Last interaction", day(c.last_interaction) || "none yet"],
  ];
  const recent = c.recent.length
    ? el("ul", { class: "card-recent", "aria-label": `Latest activity with ${c.name}` },
      c.recent.map((a) => el("li", {},
        el("span", { "aria-hidden": "true" }, KIND[a.kind] || "•"), " ",
        el("span", { class: "rec-name" }, a.subject || "(no subject)"), " ",
        el("span", { class: "rec-sub" }, day(a.at)))))
    : el("p", { class: "rec-sub" }, "No saved emails or meetings yet.");
  const href = /^https?:\/\//.test(c.url || "") ? c.url : null;
  return el("section", { class: "person-card", dataset: { type: c.ref.type, id: String(c.ref.id) },
    "aria-label": `${c.name} in the CRM` },
  el("dl", {}, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
  el("h4", {}, "Recent activity"), recent,
  c.open.length ? [el("h4", {}, `Open opportunities (${c.open.length})`),
    el("ul", { class: "card-opps" }, c.open.map(opportunity))] : null,
  c.closed.length ? el("details", { class: "closed-opps" },
    el("summary", {}, `Closed opportunities (${c.closed.length})`),
    el("ul", { class: "card-opps" }, c.closed.map(opportunity))) : null,
  href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", class: "open-crm" },
    "Open in CRM ↗") : null);
}

/** Puts each card under its person's row (the first candidate shown for the address). */
export function showCards(root, cards) {
  const byRef = new Map(cards.map((c) => [`${c.ref.type}:${c.ref.id}`, c]));
  for (const row of root.querySelectorAll("li.participant.p-matched")) {
    const box = [...row.querySelectorAll("input.pick")]
      .find((b) => byRef.has(`${b.dataset.type}:${b.dataset.id}`));
    const found = box && byRef.get(`${box.dataset.type}:${box.dataset.id}`);
    if (found) row.querySelector(".p-form").before(card(found));
  }
  root.dataset.cards = "shown";
}
