"""Quiet polls: the safety poll of mailboxes whose change notifications are live, a group of
mailboxes in one job.

A watched mailbox's periodic session is a safety net: notifications already brought its mail,
so it nearly always finds nothing. A quiet poll asks, for each mailbox of its group, the first
page of every delta round in one `$batch` (as a session does first) and, when every page is
empty and ends its round, moves the mailbox's delta links on and records the poll as the
mailbox's session (succeeded, nothing read): one Graph call and no other work per mailbox. The
group shares the job, its reads (users, folder states, thread rules) and one transaction that
records every poll. Anything else — mail, a round under way, a moved calendar window, a folder
not yet found, a first sync not finished, a thread to back-fill, a token or Graph error, a
mailbox no longer synced — is handed to a normal session of that mailbox, which does the
work and records what happened: in sync-fresh (trigger "poll_found") when the poll found a
change, as a notification's would be; in its place among the polls otherwise.

A quiet poll takes no `running` row and saves nothing: it only moves a delta link, and only
if it still is the link the poll read (compare-and-set). A session running at the same time
keeps what it wrote, and a notified session is never kept waiting by a poll. An empty page
says nothing changed between the stored link and the poll, so the link it moves to misses
nothing a session reading from the old link would have found.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import joinedload

from .. import metrics
from ..auth.app_tokens import AppGrantMissing
from ..auth.identity import user_refused
from ..auth.tokens import NeedsReauth, TokenUnavailable
from ..db import get_session, utcnow
from ..mail.graph import GraphError
from ..mail.graph_delta import CALENDAR_KEY, DeltaPage
from ..models.ledger import ThreadRule
from ..models.sync import CALENDAR, SyncSession, SyncState
from ..models.tenancy import Organisation, User
from ..policy import effective_policy
from ..queues import enqueue_many, job_data
from .app_mode import out_of_app_scope
from .jobs import POLL_QUEUE, enqueue_sessions
from .rounds import current_calendar_window
from .runner import graph_client, wanted_folders
from .session import worker_label
from .session_token import session_token
from .summary import refresh_summaries

log = logging.getLogger(__name__)
# Mailboxes per quiet poll job: enough to share the job and its reads, few enough that one
# slow mailbox (Graph's retries) delays few others.
GROUP_SIZE = 20
# The poll's own record of a mailbox with nothing new; the session it starts for what it
# found (in sync-fresh, like a notification's: mail is late already).
POLL_TRIGGER, FOUND_TRIGGER = "quiet_poll", "poll_found"
# What stops a mailbox's quiet poll and hands it to a session, which records it properly.
_HANDED_OFF = (NeedsReauth, TokenUnavailable, AppGrantMissing, GraphError)
CHANGED = "changed"  # _ask: something changed since the stored links


def enqueue_quiet_polls(user_ids: list[int]) -> None:
    """Queue the quiet polls of these mailboxes, GROUP_SIZE to a job, behind fresh work."""
    timeout = current_app.config["SYNC_JOB_TIMEOUT_SECONDS"]
    groups = [user_ids[i : i + GROUP_SIZE] for i in range(0, len(user_ids), GROUP_SIZE)]
    enqueue_many(
        [
            job_data("server.sync.quiet_poll.poll_quietly", group, timeout=timeout)
            for group in groups
        ],
        POLL_QUEUE,
    )


def poll_quietly(user_ids: list[int]) -> dict:
    """The job: one quiet poll of each mailbox. Returns which were polled (nothing new),
    found a change, or were handed off otherwise."""
    db = get_session()
    users = list(
        db.scalars(
            select(User)
            .options(joinedload(User.organisation).lazyload(Organisation.domains))
            .where(User.id.in_(user_ids))
        )
    )
    states: dict[int, dict[str, SyncState]] = {user.id: {} for user in users}
    for state in db.scalars(select(SyncState).where(SyncState.user_id.in_(user_ids))):
        states[state.user_id][state.folder] = state
    backfilling = set(
        db.scalars(
            select(ThreadRule.user_id)
            .where(
                ThreadRule.user_id.in_(user_ids),
                ThreadRule.enabled.is_(True),
                ThreadRule.backfilled_at.is_(None),
            )
            .distinct()
        )
    )
    window = current_calendar_window(current_app.config)
    handed_off: list[int] = []
    plans = {}
    for user in users:
        plan = None
        if user.id not in backfilling and _synced(user):
            try:
                plan = _plan(states[user.id], effective_policy(user, colleagues=False), window)
            except Exception:  # the session meets it too, and records it for health
                log.exception("quiet poll of user %s could not plan; handed to a session", user.id)
        if plan is None:
            handed_off.append(user.id)
        else:
            plans[user.id] = plan
    db.commit()  # no transaction stays open across Graph's calls
    polled: list[dict] = []
    moves: list[dict] = []
    found: list[int] = []
    for user in users:
        if user.id not in plans:
            continue
        outcome = _ask(user, *plans[user.id])
        if outcome is None or outcome == CHANGED:
            (handed_off if outcome is None else found).append(user.id)
            continue
        row, moved = outcome
        polled.append(row)
        moves += moved
    if polled:
        if moves:
            db.execute(_move_link_statement(), moves)
        db.execute(insert(SyncSession.__table__), polled)
        refresh_summaries([p["user_id"] for p in polled], orgs={u.id: u.org_id for u in users})
        db.commit()
    if found:  # a session running already is asked to read once more
        enqueue_sessions(found, FOUND_TRIGGER)
    if handed_off:  # the session the poll stood in for, in its place among the polls
        enqueue_sessions(handed_off, "schedule")
    metrics.inc("courier_sync_sessions", len(polled), outcome="succeeded")
    metrics.inc("courier_quiet_polls", len(polled), outcome="nothing_new")
    metrics.inc("courier_quiet_polls", len(found), outcome="found")
    metrics.inc("courier_quiet_polls", len(handed_off), outcome="handed_off")
    return {"polled": [p["user_id"] for p in polled], "found": found, "handed_off": handed_off}


def _synced(user: User) -> bool:
    return user.sync_enabled and not user_refused(user) and not out_of_app_scope(user)


def _plan(
    states: dict[str, SyncState], policy, window
) -> tuple[dict[str, SyncState], timedelta] | None:
    """(the rounds to ask, by batch key; how far back mail is read), or None: the mailbox
    needs a session. `policy` says what to read (not whom an item is with)."""
    rounds = _rounds(states, policy, window)
    return None if rounds is None else (rounds, timedelta(days=policy.history_days))


def _ask(
    user: User, rounds: dict[str, SyncState], history: timedelta
) -> tuple[dict, list[dict]] | str | None:
    """(the poll's session row, its delta links' moves) when nothing changed; CHANGED; or
    None when the poll cannot tell (a token or Graph error, a page failed in the batch)."""
    started = utcnow()
    try:
        client = graph_client(user, session_token(user))
        links = {key: (state.resume_link, state.folder_name) for key, state in rounds.items()}
        calendar = links.pop(CALENDAR_KEY, (None, ""))[0]
        pages = client.delta_first_pages(links, calendar, started - history)
    except _HANDED_OFF:
        return None
    except Exception:  # one mailbox's surprise must not end the group's polls
        log.exception("quiet poll of user %s failed; handed to a session", user.id)
        return None
    if set(pages) != set(rounds):
        return None  # the failed page is read alone, with the single request's handling
    if not all(_nothing_new(page) for page in pages.values()):
        return CHANGED
    finished = utcnow()
    row = {
        "org_id": user.org_id,
        "user_id": user.id,
        "status": "succeeded",
        "trigger": POLL_TRIGGER,
        "started_at": started,
        "heartbeat_at": finished,
        "finished_at": finished,
        "duration_ms": int((finished - started).total_seconds() * 1000),
        "worker": worker_label(),
        "graph_requests": client.stats.requests,
    }
    moves = [
        {"state_id": state.id, "read": state.resume_link, "next": pages[key].delta_link}
        for key, state in rounds.items()
        if pages[key].delta_link != state.resume_link
    ]
    return row, moves


def _rounds(states: dict[str, SyncState], policy, window) -> dict[str, SyncState] | None:
    """The rounds a session would read now, by batch key, when every one is a finished
    first sync waiting at a stored link (two at least: one `$batch`); else None."""
    wanted = {key: states.get(key) for key in wanted_folders(policy)}
    if policy.meetings_enabled:
        calendar = states.get(CALENDAR)
        if calendar is None or (calendar.window_start, calendar.window_end) != window:
            return None  # a calendar never read, or whose window moved: a new baseline
        wanted[CALENDAR_KEY] = calendar
    if len(wanted) < 2 or not all(
        state is not None
        and state.initial_done
        and state.resume_link
        and (state.folder_id or state.folder == CALENDAR)
        for state in wanted.values()
    ):
        return None
    return wanted


def _nothing_new(page: DeltaPage) -> bool:
    """An empty page that ends its round: nothing changed since the link it was read from."""
    return bool(page.delta_link) and not (
        page.items or page.removed or page.skipped or page.ignored or page.next_link
    )


@cache
def _move_link_statement():
    """Compare-and-set, an executemany: a link moves only from the one the poll read."""
    table = SyncState.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("state_id"), table.c.resume_link == bindparam("read"))
        .values(resume_link=bindparam("next"))
    )
