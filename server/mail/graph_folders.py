"""The Graph calls about the user and their mail folders (mixed into GraphClient): the
user's addresses (aliases from proxyAddresses) and folders by well-known or display name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .graph_errors import FolderNotFound

WELL_KNOWN_FOLDERS = (
    "inbox",
    "sentitems",
    "archive",
    "drafts",
    "deleteditems",
    "junkemail",
    "outbox",
    "clutter",
    "conversationhistory",
    "rssfeeds",
    "scheduled",
    "searchfolders",
)


@dataclass(frozen=True)
class Folder:
    id: str
    name: str  # well-known name when it is one, else the display name
    display_name: str
    total: int = 0


class FolderCalls:
    """Needs `self.mailbox` and `self.get(url)` (GraphClient provides both)."""

    mailbox: str
    get: Callable[..., dict]

    def user_path(self) -> str:
        return f"users/{quote(self.mailbox, safe='')}"

    def get_user(self) -> dict:
        return self.get(
            f"{self.user_path()}?$select=id,displayName,mail,userPrincipalName,proxyAddresses"
        )

    def user_addresses(self) -> list[str]:
        """The user's primary address and aliases (proxyAddresses 'smtp:'/'SMTP:'), lower-cased."""
        return addresses_of(self.get_user())

    def well_known_folder(self, name: str) -> Folder:
        return folder_from(self.get(f"{self.user_path()}/mailFolders/{quote(name, safe='')}"), name)

    def folder_total(self, folder_id: str) -> int:
        """The folder's totalItemCount now (it decides whether a filtered delta is safe)."""
        data = self.get(
            f"{self.user_path()}/mailFolders/{quote(folder_id, safe='')}?$select=totalItemCount"
        )
        return _int(data.get("totalItemCount"))

    def list_folders(self) -> list[Folder]:
        """Every folder, depth first (child folders included), by display name."""
        out: list[Folder] = []
        pending = [f"{self.user_path()}/mailFolders?$top=100"]
        while pending:
            url: str | None = pending.pop()
            while url:
                data = self.get(url)
                for raw in data.get("value") or []:
                    if not isinstance(raw, dict) or not raw.get("id"):
                        continue
                    name = str(raw.get("displayName", ""))
                    out.append(Folder(str(raw["id"]), name, name, _int(raw.get("totalItemCount"))))
                    if _int(raw.get("childFolderCount")):
                        pending.append(
                            f"{self.user_path()}/mailFolders/"
                            f"{quote(str(raw['id']), safe='')}/childFolders?$top=100"
                        )
                url = data.get("@odata.nextLink")
        return out

    def resolve_folders(self, names: list[str]) -> list[Folder]:
        """Folders by well-known name or by final display name (case-insensitive); names that
        match nothing are left out."""
        found: list[Folder] = []
        custom = [n for n in names if n.strip().lower() not in WELL_KNOWN_FOLDERS]
        for name in names:
            key = name.strip().lower()
            if key in WELL_KNOWN_FOLDERS:
                try:
                    found.append(self.well_known_folder(key))
                except FolderNotFound:
                    continue
        if custom:
            by_name: dict[str, Folder] = {}
            for folder in self.list_folders():
                by_name.setdefault(folder.display_name.strip().lower(), folder)
            for name in custom:
                final = name.strip().rsplit("/", 1)[-1].strip().lower()
                if final in by_name:
                    folder = by_name[final]
                    found.append(
                        Folder(folder.id, folder.display_name, folder.display_name, folder.total)
                    )
        unique: dict[str, Folder] = {}
        for folder in found:
            unique.setdefault(folder.id, folder)
        return list(unique.values())


def folder_from(data: dict, name: str) -> Folder:
    """A mailFolder object (https://learn.microsoft.com/graph/api/resources/mailfolder)."""
    return Folder(
        id=str(data.get("id", "")),
        name=name,
        display_name=str(data.get("displayName", "")),
        total=_int(data.get("totalItemCount")),
    )


def addresses_of(user: dict) -> list[str]:
    """The primary address and aliases (proxyAddresses 'smtp:'/'SMTP:') of a Graph user,
    lower-cased, without repeats; other address types (x500:, sip:) are left out."""
    out: list[str] = []
    for value in [
        user.get("mail"),
        user.get("userPrincipalName"),
        *(user.get("proxyAddresses") or []),
    ]:
        if not isinstance(value, str):
            continue
        scheme, sep, rest = value.partition(":")
        address = rest if sep and scheme.lower() == "smtp" else value if not sep else ""
        address = address.strip().lower()
        if "@" in address and address not in out:
            out.append(address)
    return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
