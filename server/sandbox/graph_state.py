"""In-memory state of the sandbox's Graph: mailboxes, change sequences, delta tokens, faults.

Every change has a sequence number per mailbox (messages and events separately). A delta
round returns the changes with sequence numbers in (from, high]; its tokens carry the round's
position and the mailbox's epoch, so "invalidate delta tokens" is bumping the epoch.
"""

from __future__ import annotations

import base64
import bisect
import heapq
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app

from .calendar_gen import generate_events
from .calendar_series import label_key
from .directory import DEMO_USERS, DirectoryUser
from .mailbox import GeneratedMailbox

DEFAULT_MESSAGES = 600
DEFAULT_EVENTS = 40
DEFAULT_SEED = 7


@dataclass
class Faults:
    throttle_rate: float = 0.0  # 429 with Retry-After
    unavailable_rate: float = 0.0  # 503
    reset_rate: float = 0.0  # connection reset
    slow_rate: float = 0.0
    slow_ms: int = 0
    retry_after: str = "0.05"
    seed: int = 1
    # Void every delta/skip token when the request counter reaches this number (0: never).
    invalidate_after: int = 0
    # The status of the answer to a voided token: the docs allow any "40X" (400, 404, 410).
    lost_state_status: int = 410
    # The next N requests run inside a $batch answer 429 (with retry_after) while the batch
    # itself succeeds: Graph evaluates each batched request against throttling on its own.
    batch_item_throttles: int = 0


@dataclass
class Mailbox:
    user: DirectoryUser
    generated: GeneratedMailbox
    by_folder: dict[str, list[int]]  # folder id -> generated indexes (ascending)
    added: list[tuple[int, dict, dict]] = field(default_factory=list)  # (seq, message, label)
    # Changes to messages already there: (seq, partial entry, received) — see message_page.
    updates: list[tuple[int, dict, datetime]] = field(default_factory=list)
    events: dict[str, tuple[int, dict]] = field(default_factory=dict)  # id -> (seq, event)
    event_labels: dict[str, dict] = field(default_factory=dict)  # meeting key -> label
    message_seq: int = 0
    event_seq: int = 0
    epoch: int = 0

    def next_message_seq(self) -> int:
        self.message_seq += 1
        return self.message_seq

    def next_event_seq(self) -> int:
        self.event_seq += 1
        return self.event_seq

    def message(self, message_id: str) -> dict | None:
        """The message with this id as first stored (generated or added), None if there is
        none; the caller holds the state's lock."""
        index = self.generated.index_of(message_id)
        if index is not None and self.generated.message_id(index) == message_id:
            return self.generated.render(index)[0]
        return next((m for _, m, _ in self.added if m.get("id") == message_id), None)


@dataclass
class GraphState:
    seed: int
    messages: int
    events: int
    now: datetime
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    requests: int = 0
    requests_by_kind: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, dict] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    fleet_size: int = 0  # generated fleet mailboxes (sandbox/fleet.py)
    lock: threading.RLock = field(default_factory=threading.RLock)
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    def mailbox(self, user: DirectoryUser) -> Mailbox:
        with self.lock:
            box = self.mailboxes.get(user.object_id)
            if box is None:
                box = self.mailboxes[user.object_id] = _build(user, self)
            return box

    def count(self, kind: str) -> None:
        with self.lock:
            self.requests += 1
            self.requests_by_kind[kind] = self.requests_by_kind.get(kind, 0) + 1

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def note(self, kind: str) -> None:
        """Count something served (a fault) without counting another request."""
        with self.lock:
            self.requests_by_kind[kind] = self.requests_by_kind.get(kind, 0) + 1

    def fault(self) -> str:
        """The fault to inject into this request ("" for none)."""
        f = self.faults
        with self.lock:
            roll = self.rng.random()
        for name, rate in (
            ("reset", f.reset_rate),
            ("throttle", f.throttle_rate),
            ("unavailable", f.unavailable_rate),
            ("slow", f.slow_rate),
        ):
            if roll < rate:
                return name
            roll -= rate
        return ""


def _build(user: DirectoryUser, st: GraphState) -> Mailbox:
    generated = GeneratedMailbox(user, st.messages, st.seed, st.now)
    by_folder: dict[str, list[int]] = {}
    for index, folder in enumerate(generated.folder_of):
        by_folder.setdefault(generated.folders[folder], []).append(index)
    box = Mailbox(user, generated, by_folder, message_seq=st.messages)
    for event, label in generate_events(user, st.events, st.seed, st.now):
        box.events[event["id"]] = (box.next_event_seq(), event)
        if label is not None:
            box.event_labels[label_key(event)] = label
    return box


def init_state(app: Flask, **options: Any) -> None:
    previous: GraphState | None = app.extensions.get("sandbox_graph")
    config = {
        "seed": app.config.get("SANDBOX_GRAPH_SEED", DEFAULT_SEED),
        "messages": app.config.get("SANDBOX_GRAPH_MESSAGES", DEFAULT_MESSAGES),
        "events": app.config.get("SANDBOX_GRAPH_EVENTS", DEFAULT_EVENTS),
    }
    if previous is not None and not options:
        # A reset keeps the size last configured, so a test's setup survives it.
        config = {"seed": previous.seed, "messages": previous.messages, "events": previous.events}
    config.update({k: v for k, v in options.items() if v is not None})
    app.extensions["sandbox_graph"] = GraphState(now=datetime.now(UTC), **config)


def state() -> GraphState:
    return current_app.extensions["sandbox_graph"]


# --- tokens ----------------------------------------------------------------------------------


def encode_token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def decode_token(raw: str) -> dict | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


# --- delta rounds ----------------------------------------------------------------------------


def message_page(
    box: Mailbox, folder_id: str, since: datetime | None, pos: int, high: int, size: int
) -> tuple[list[tuple[int, dict, dict]], int, bool]:
    """Up to `size` changed messages of a folder with pos < seq <= high: (items, last position,
    more left). Reads one item ahead so the last page carries the delta link.

    A message changed after it was reported comes as a partial entry (only the changed
    fields), as Graph does (microsoftgraph/microsoft-graph-docs-contrib#5544); one created in
    the same range is reported once, in full."""
    found: list[tuple[int, dict, dict]] = []
    indexes = box.by_folder.get(folder_id, [])
    generated = box.generated
    # Generated message i has seq i + 1.
    for index in indexes[bisect.bisect_right(indexes, pos - 1) :]:
        seq = index + 1
        if seq > high or len(found) > size:
            break
        if since is not None and generated.received_at(index) < since:
            continue
        message, label = generated.render(index) if len(found) < size else ({}, {})
        found.append((seq, message, label))
    later = heapq.merge(
        ((seq, message, label) for seq, message, label in box.added),
        ((seq, entry, {"_received": received}) for seq, entry, received in box.updates),
        key=lambda item: item[0],
    )
    for seq, message, label in later:
        if len(found) > size:
            break
        if not pos < seq <= high or message.get("parentFolderId") != folder_id:
            continue
        received = label.get("_received") or _parse(message.get("receivedDateTime", ""))
        if since is not None and received is not None and received < since:
            continue
        if "_received" in label and created_seq(box, message["id"]) > pos:
            continue  # created in this range: its full entry is reported instead
        found.append((seq, message, label))
    if len(found) > size:
        page = found[:size]
        return page, page[-1][0], True
    return found, high, False


def created_seq(box: Mailbox, message_id: str) -> int:
    """The sequence number a message was created with (generated ones: index + 1)."""
    index = box.generated.index_of(message_id)
    if index is not None:
        return index + 1
    return next((seq for seq, m, _ in box.added if m["id"] == message_id), 0)


def event_page(
    box: Mailbox,
    start: datetime,
    end: datetime,
    pos: int,
    high: int,
    size: int,
    incremental: bool = False,
) -> tuple[list[dict], int, bool]:
    """Changed events of the window. In a round after the first, an event changed outside
    the window is reported too, as `@removed` "deleted": "an @removed entry … may also be an
    event outside the range that changed" (https://learn.microsoft.com/graph/api/event-delta)."""
    changed = sorted((seq, event) for seq, event in box.events.values() if pos < seq <= high)
    out: list[dict] = []
    last = pos
    for index, (seq, event) in enumerate(changed):
        last = seq
        if not (incremental or _reportable(event, start, end)):
            continue
        if not _in_window(event, start, end):
            # Moved out of the window: Graph's calendarView delta reports it as removed.
            event = removed_event(event["id"], event)
        out.append(public(event))
        if len(out) >= size:
            more = any(incremental or _reportable(e, start, end) for _, e in changed[index + 1 :])
            return out, last, more
    return out, high, False


def public(event: dict) -> dict:
    """An event as Graph shows it: without the sandbox's own "_" fields."""
    return {k: v for k, v in event.items() if not k.startswith("_")}


def removed_event(event_id: str, event: dict) -> dict:
    """A deleted event as the next delta reports it; "_start" (never sent) keeps the window
    telling whether this calendar view had the event."""
    return {"id": event_id, "@removed": {"reason": "deleted"}, "_start": event["start"]}


def _reportable(event: dict, start: datetime, end: datetime) -> bool:
    """In the window, or moved out of it (a change the calendar view saw before)."""
    moved_from = event.get("_moved_from")
    return _in_window(event, start, end) or (
        moved_from is not None and _in_window({"start": moved_from}, start, end)
    )


def _in_window(event: dict, start: datetime, end: datetime) -> bool:
    if "@removed" in event:
        event = {"start": event["_start"]}
    when = _parse(event["start"]["dateTime"])
    return when is not None and start <= when < end


def parse_received(value: str) -> datetime:
    return _parse(value) or datetime.now(UTC)


def _parse(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")[:19])
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


def user_by_id(identifier: str) -> DirectoryUser | None:
    from .directory_changes import is_leaver, joiner

    key = identifier.lower()
    found = next((u for u in DEMO_USERS if key in (u.object_id, u.email.lower())), None)
    if found is None and current_app:
        found = joiner(key)  # joined the tenant after the start
    if found is not None and current_app and is_leaver(found.object_id):
        return None  # left the tenant: Graph answers 404 ErrorInvalidUser
    if found is None and current_app and state().fleet_size:
        from .fleet import find_fleet_user

        found = find_fleet_user(key, state().fleet_size)
    return found


def users_of_tenant(tenant_id: str) -> list[DirectoryUser]:
    """The tenant's directory in a stable order (Graph's user list pages through it)."""
    from .directory_changes import is_leaver, joiners_of

    people = [*(u for u in DEMO_USERS if u.tenant_id == tenant_id), *joiners_of(tenant_id)]
    return sorted((u for u in people if not is_leaver(u.object_id)), key=lambda u: u.object_id)
