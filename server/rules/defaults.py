"""The default lists behind the data controls, in one place.

Admins edit their own copies in the policy (server/policy/); these are only the starting
values and the fixed facts (folders that are never read, automated-mail headers).
"""

from __future__ import annotations

# fmt: off

# Local parts that name a function, not a person (support@, billing@, ...). Editable.
ROLE_LOCAL_PARTS: tuple[str, ...] = (
    "accounting", "accounts", "accountspayable", "admin", "administrator", "ap", "ar",
    "billing", "careers", "contact", "contactus", "customercare", "customerservice", "cs",
    "enquiries", "finance", "hello", "help", "helpdesk", "hr", "info", "inquiries", "invoice",
    "invoices", "jobs", "legal", "marketing", "media", "office", "orders", "payables",
    "payments", "press", "privacy", "procurement", "purchasing", "reception", "recruiting",
    "sales", "security", "service", "support", "team", "webmaster",
)

# Consumer mailbox providers: an address there does not make an email relevant on its own.
PERSONAL_DOMAINS: tuple[str, ...] = (
    "aol.com", "btinternet.com", "comcast.net", "gmail.com", "gmx.com", "gmx.de", "gmx.net",
    "googlemail.com", "hey.com", "hotmail.co.uk", "hotmail.com", "hotmail.fr", "icloud.com",
    "live.com", "mac.com", "mail.com", "mail.ru", "me.com", "msn.com", "outlook.com",
    "pm.me", "proton.me", "protonmail.com", "qq.com", "t-online.de", "web.de", "yahoo.co.uk",
    "yahoo.com", "yahoo.fr", "yandex.com", "yandex.ru", "zoho.com",
)

# Tools that appear as participants but are not people: rooms, meeting recorders, calendar
# and scheduling notifications. Patterns: "*@domain" (that domain and its subdomains),
# "prefix*@*" (local part starts with), or an exact address. Editable.
TOOL_ADDRESS_PATTERNS: tuple[str, ...] = (
    "*@resource.calendar.google.com",
    "*@group.calendar.google.com",
    "calendar-notification@google.com",
    "*@fireflies.ai",
    "*@otter.ai",
    "*@read.ai",
    "*@fathom.video",
    "*@tldv.io",
    "*@calendly.com",
    "*@zoom.us",
    "room-*@*",
    "conf-room*@*",
    "meetingroom*@*",
)

# Sender local parts of machines (RFC 3834 §2 names MAILER-DAEMON, owner-*, *-request).
AUTOMATED_LOCAL_PARTS: tuple[str, ...] = (
    "alerts", "auto-confirm", "bounce", "bounces", "daemon", "do-not-reply", "do_not_reply",
    "donotreply", "mailer-daemon", "mailerdaemon", "newsletter", "news", "no-reply",
    "no_reply", "noreply", "notification", "notifications", "notify", "postmaster",
    "unsubscribe", "updates",
)
AUTOMATED_LOCAL_PREFIXES: tuple[str, ...] = (
    "bounce-", "bounce+", "bounces-", "bounces+", "noreply-", "noreply+", "no-reply-",
    "no-reply+", "donotreply-", "owner-", "mailer-daemon",
)
AUTOMATED_LOCAL_SUFFIXES: tuple[str, ...] = ("-request", "-noreply", "-no-reply", "-bounces")

# fmt: on

# Headers that mark mail as automated (provider-apis.md A5). Names are lower-cased.
BULK_PRECEDENCE: frozenset[str] = frozenset({"bulk", "list", "junk"})
LIST_HEADERS: tuple[str, ...] = ("list-id", "list-unsubscribe", "x-mailing-list")

# Folders read by default (Graph well-known names).
DEFAULT_FOLDERS: tuple[str, ...] = ("inbox", "sentitems")

# fmt: off
# Folders that are never read, whatever the settings: well-known names and the display
# names Outlook shows for them, compared lower-cased without spaces.
NEVER_READ_FOLDERS: frozenset[str] = frozenset({
    "junkemail", "junk", "drafts", "deleteditems", "clutter", "conversationhistory",
    "rssfeeds", "rsssubscriptions", "outbox", "syncissues", "conflicts", "localfailures",
    "serverfailures", "recoverableitemsdeletions", "scheduled", "searchfolders",
})
# fmt: on

# Calendar sensitivities that are never saved ("private" always; admins may add "personal").
PRIVATE_SENSITIVITIES: tuple[str, ...] = ("private", "confidential")
SENSITIVITIES: tuple[str, ...] = ("normal", "personal", "private", "confidential")

# Subject keywords that drop an email: none by default (admins add "payslip", ...).
SUBJECT_KEYWORDS: tuple[str, ...] = ()

HISTORY_DAYS = 30
MAX_HISTORY_DAYS = 180
SYNC_INTERVAL_MINUTES = 10
AUTO_SAVE_MODES: tuple[str, ...] = ("off", "threads", "all")
AUTO_SAVE = "threads"
