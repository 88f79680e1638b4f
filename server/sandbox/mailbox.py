"""A deterministic generated mailbox per demo user, with every item labelled by its intended
outcome when it is created.

The labels are what tests compare the CRM's final state with, so they come from here (the
generator's intent), not from the code under test. They assume the LABEL_POLICY below:
auto-save of all relevant emails, no opportunity links, no auto-create, the folders Inbox,
Sent Items and the custom folder "Clients", meetings on.

Messages are rendered on demand from (seed, user, index): a 100,000-message mailbox keeps only
a small table of conversations in memory.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from ..crm.builtin.demo_data import DEFAULT_SEED, DemoContact, demo_crm
from .directory import DEMO_DOMAIN, DEMO_TENANT_ID, DirectoryUser, users_of

LABEL_POLICY = {
    "auto_save": "all",
    "link_to_opportunities": False,
    "auto_create": False,
    "folders": ["inbox", "sentitems", "Clients"],
    "meetings_enabled": True,
}
CUSTOM_FOLDER = "Clients"
WINDOW_DAYS = 28  # generated mail lies within the default 30-day history
BAD_BYTES_MARK = "@@NON_UTF8@@"  # replaced by raw invalid bytes when served

# (category, weight): what a conversation is.
CATEGORIES = (
    ("thread", 40),
    ("outbound", 10),
    ("cc_two_accounts", 6),
    ("newsletter", 10),
    ("auto_reply", 3),
    ("noreply_at_customer", 3),
    ("internal", 10),
    ("personal", 5),
    ("unknown_company", 6),
    ("junk", 3),
    ("custom_folder", 3),
    ("old", 1),
    ("bad_data", 2),
)
BAD_KINDS = (
    "invalid_from",
    "huge_body",
    "huge_headers",
    "no_message_id",
    "non_utf8",
    "unknown_folder",
)


@dataclass(frozen=True)
class Conversation:
    first: int  # index of its first message
    length: int
    category: str
    seed: int


def _hash(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@lru_cache(maxsize=2)
def linkable_contacts(crm_seed: int = DEFAULT_SEED) -> tuple[DemoContact, ...]:
    """Contacts of the demo CRM that match unambiguously: an account, addresses nobody else
    (contact or lead) has, no role-mailbox address. Mail to them has one obvious link."""
    crm = demo_crm(crm_seed)
    owners: dict[str, int] = {}
    for contact in crm.contacts:
        for address in contact.emails:
            owners[address] = owners.get(address, 0) + 1
    for lead in crm.leads:
        owners[lead.email] = owners.get(lead.email, 0) + 1
    return tuple(
        c
        for c in crm.contacts
        if c.account is not None
        and all(owners[a] == 1 for a in c.emails)
        and c.emails[0].split("@")[0] not in ("sales", "info", "office", "team", "purchasing")
    )


def account_name(contact: DemoContact, crm_seed: int = DEFAULT_SEED) -> str:
    crm = demo_crm(crm_seed)
    return crm.accounts[contact.account].name if contact.account is not None else ""


def folder_ids(user: DirectoryUser) -> dict[str, str]:
    short = user.object_id[-6:]
    return {
        name: f"AAMkF-{short}-{name}"
        for name in (
            "inbox",
            "sentitems",
            "junkemail",
            "drafts",
            "deleteditems",
            "archive",
            "clients",
        )
    }


class GeneratedMailbox:
    """The static part of one user's mailbox: `count` messages, rendered by index."""

    def __init__(self, user: DirectoryUser, count: int, seed: int, now: datetime):
        self.user = user
        self.count = count
        self.seed = seed
        self.now = now
        self.folders = folder_ids(user)
        self.colleagues = [u for u in users_of(DEMO_TENANT_ID) if u.object_id != user.object_id]
        self.contacts = linkable_contacts() if user.tenant_id == DEMO_TENANT_ID else ()
        self.conversations = self._plan()
        self._starts = [c.first for c in self.conversations]
        self.folder_of = [self._folder_of(i) for i in range(count)]

    def _plan(self) -> list[Conversation]:
        rng = random.Random(_hash(self.seed, self.user.object_id, "plan"))
        names = [c for c, _ in CATEGORIES]
        weights = [w for _, w in CATEGORIES]
        out: list[Conversation] = []
        index = 0
        while index < self.count:
            category = rng.choices(names, weights)[0] if self.contacts else "personal"
            length = rng.randint(2, 5) if category in ("thread", "custom_folder") else 1
            length = min(length, self.count - index)
            out.append(Conversation(index, length, category, rng.getrandbits(32)))
            index += length
        return out

    def conversation_of(self, index: int) -> Conversation:
        return self.conversations[bisect.bisect_right(self._starts, index) - 1]

    def _folder_of(self, index: int) -> str:
        conv = self.conversation_of(index)
        position = index - conv.first
        if conv.category == "junk":
            return "junkemail"
        if conv.category == "custom_folder":
            return "clients" if position % 2 == 0 else "sentitems"
        if conv.category == "outbound" or (conv.category == "thread" and position % 2 == 1):
            return "sentitems"
        return "inbox"

    def received_at(self, index: int) -> datetime:
        conv = self.conversation_of(index)
        if conv.category == "old":
            return self.now - timedelta(days=60 + index % 20)
        span = timedelta(days=WINDOW_DAYS).total_seconds()
        return self.now - timedelta(seconds=span * (1 - (index + 1) / (self.count + 1)))

    def message_id(self, index: int) -> str:
        return f"AAMkM-{self.user.object_id[-6:]}-{index:07d}"

    def index_of(self, message_id: str) -> int | None:
        """The index of a generated message id, None for any other id."""
        prefix = f"AAMkM-{self.user.object_id[-6:]}-"
        digits = message_id[len(prefix) :] if message_id.startswith(prefix) else ""
        index = int(digits) if digits.isdigit() else -1
        return index if 0 <= index < self.count else None

    def render(self, index: int) -> tuple[dict, dict]:
        """(Graph message JSON, label) of message `index`."""
        conv = self.conversation_of(index)
        rng = random.Random(conv.seed)
        return _render(self, index, conv, rng)


def _addr(address: str, name: str = "") -> dict:
    return {"emailAddress": {"address": address, "name": name}}


def _render(box: GeneratedMailbox, index: int, conv: Conversation, rng: random.Random):
    user = box.user
    position = index - conv.first
    contact = box.contacts[rng.randrange(len(box.contacts))] if box.contacts else None
    second = box.contacts[rng.randrange(len(box.contacts))] if box.contacts else None
    colleague = box.colleagues[rng.randrange(len(box.colleagues))] if box.colleagues else None
    topic = rng.choice(
        (
            "Renewal",
            "Pricing",
            "Onboarding",
            "Proposal",
            "Roadmap",
            "Invoice Q3",
            "Pilot results",
            "Contract review",
            "Workshop",
            "Security review",
        )
    )
    me = _addr(user.email, user.display_name)
    headers: list[dict] = []
    body = f"Hello,\n\nFollowing up on {topic.lower()}.\n\nRegards"
    to: list[dict] = [me]
    cc: list[dict] = []
    sender = me
    label: dict = {"outcome": "skip", "reason": conv.category}
    subject = topic
    domain = DEMO_DOMAIN
    message_id: str | None = f"<m{index}.{user.object_id[-6:]}.{box.seed}@{domain}>"
    folder = box.folder_of[index]
    people = [contact] if contact else []
    cat = conv.category

    if cat in ("thread", "custom_folder", "outbound"):
        subject = f"RE: {topic} ({conv.first})" if position else f"{topic} ({conv.first})"
        if position:
            parent = f"<m{index - 1}.{user.object_id[-6:]}.{box.seed}@{domain}>"
            headers += [
                {"name": "In-Reply-To", "value": parent},
                {"name": "References", "value": parent},
            ]
        if rng.random() < 0.3 and colleague:
            cc.append(_addr(colleague.email, colleague.display_name))
        if folder == "sentitems":
            sender, to = me, [_addr(contact.emails[0], contact.name)]
        else:
            sender = _addr(contact.emails[0], contact.name)
        label = {"outcome": "save"}
    elif cat == "cc_two_accounts":
        if second is contact:
            # A draw can repeat the sender; the category promises two people, so take the next.
            second = box.contacts[(box.contacts.index(contact) + 1) % len(box.contacts)]
        sender = _addr(contact.emails[0], contact.name)
        cc.append(_addr(second.emails[0], second.name))
        people = [contact, second]
        label = {"outcome": "save"}
    elif cat == "newsletter":
        sender = _addr(
            f"news@{rng.choice(('saasweekly', 'growthdigest', 'cloudnews'))}.test", "Newsletter"
        )
        headers += [
            {"name": "List-Unsubscribe", "value": "<mailto:unsubscribe@list.test>"},
            {"name": "Precedence", "value": "bulk"},
        ]
        subject = f"This week: {topic}"
        label = {"outcome": "skip", "reason": "automated"}
    elif cat == "auto_reply":
        sender = _addr(contact.emails[0], contact.name)
        headers.append({"name": "Auto-Submitted", "value": "auto-replied"})
        subject = f"Automatic reply: {topic}"
        label = {"outcome": "skip", "reason": "automated"}
    elif cat == "noreply_at_customer":
        sender = _addr(f"noreply@{contact.emails[0].split('@')[1]}", "Notifications")
        subject = f"Your ticket about {topic} was updated"
        label = {"outcome": "skip", "reason": "automated"}
    elif cat == "internal":
        sender = _addr(colleague.email, colleague.display_name) if colleague else me
        label = {"outcome": "skip", "reason": "internal_only"}
    elif cat == "personal":
        sender = _addr(f"friend{rng.randrange(999)}@gmail.com", "A Friend")
        subject = "Dinner on Friday?"
        label = {"outcome": "skip", "reason": "personal_only"}
    elif cat == "unknown_company":
        sender = _addr(
            f"buyer{rng.randrange(999)}@unknown-prospect{rng.randrange(99)}.test", "Prospect"
        )
        label = {"outcome": "skip", "reason": "not_in_crm"}
    elif cat == "junk":
        sender = _addr(contact.emails[0], contact.name)
        label = {"outcome": "skip", "reason": "junk_folder"}
    elif cat == "old":
        sender = _addr(contact.emails[0], contact.name)
        label = {"outcome": "skip", "reason": "outside_window"}
    elif cat == "bad_data":
        kind = BAD_KINDS[index % len(BAD_KINDS)]
        sender = _addr(contact.emails[0], contact.name)
        label = {"outcome": "save"}
        subject = f"{topic} [{kind}]"
        if kind == "invalid_from":
            sender = {"emailAddress": {"address": "not an address@@", "name": "\u0000Broken"}}
            label = {"outcome": "skip", "reason": "no_valid_participants"}
        elif kind == "huge_body":
            body = "Lorem ipsum dolor sit amet. " * 5_000
        elif kind == "huge_headers":
            headers += [{"name": f"X-Filler-{n}", "value": "x" * 2_000} for n in range(100)]
        elif kind == "no_message_id":
            message_id = None
            sender = _addr(f"someone{index}@gmail.com", "Someone")
            label = {"outcome": "skip", "reason": "personal_only"}
        elif kind == "non_utf8":
            subject = f"{topic} caf{BAD_BYTES_MARK}"
        elif kind == "unknown_folder":
            label = {"outcome": "skip", "reason": "unknown_folder"}

    if label["outcome"] == "save":
        label["people"] = sorted(p.emails[0] for p in people if p)
        label["accounts"] = sorted({account_name(p) for p in people if p})
    received = box.received_at(index)
    parent_folder = box.folders[folder]
    if cat == "bad_data" and BAD_KINDS[index % len(BAD_KINDS)] == "unknown_folder":
        parent_folder = "AAMkF-unknown-folder"
    headers = (
        [{"name": "Message-ID", "value": message_id or ""}, *headers] if message_id else headers
    )
    message = {
        "id": box.message_id(index),
        "internetMessageId": message_id,
        "conversationId": f"AAQkC-{user.object_id[-6:]}-{conv.first}",
        "parentFolderId": parent_folder,
        "subject": subject,
        "from": sender,
        "sender": sender,
        "toRecipients": to,
        "ccRecipients": cc,
        "bccRecipients": [],
        "replyTo": [],
        "receivedDateTime": received.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sentDateTime": (received - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "isDraft": False,
        "body": {"contentType": "text", "content": body},
        "internetMessageHeaders": headers,
    }
    label.update(category=cat, folder=folder, internet_message_id=message_id, id=message["id"])
    return message, label


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
