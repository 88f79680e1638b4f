"""Screening throughput on one core with a realistic policy.

    .venv/bin/python bench/screening.py [--messages 100000] [--rounds 3]

Prints messages screened per second (target >= 50,000/s) and the ratio to a bare loop that
only touches the same fields of the same messages. "cold" builds a new Policy for every
round, as each sync session does (empty classification cache); "warm" reuses one.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.mail.base import Message, Participant  # noqa: E402
from server.rules.policy import Policy  # noqa: E402
from server.rules.screening import screen  # noqa: E402

TARGET_PER_SECOND = 50_000


def realistic_policy(rng: random.Random) -> Policy:
    return Policy(
        internal_domains={"acme-corp.com", "acme-corp.co.uk"},
        own_addresses={"me@acme-corp.com", "me.alias@acme-corp.com"},
        ignored_domains={"partner-agency.com", "payroll-provider.com"},
        ignored_addresses={f"consultant{i}@freelance.net" for i in range(20)},
        blocked_addresses={f"person{rng.randrange(5000)}@company{i}.com" for i in range(200)},
        blocked_domains={f"company{i}.com" for i in range(790, 800)} | {"rival.com"},
        excluded_addresses={"lawyer@counsel.com", "doctor@clinic.com"},
        excluded_domains={"hr-provider.com", "bank.com"},
        subject_keywords=("payslip", "confidential", "salary", "medical", "password"),
    )


def make_messages(count: int, rng: random.Random) -> list[Message]:
    """A mailbox's mix: mostly customer mail, with internal, personal, automated, role
    addresses, blocked people and the odd excluded one, over a pool of 5,000 outside people
    at 800 companies."""
    colleagues = [Participant(f"colleague{i}@acme-corp.com") for i in range(60)]
    me = Participant("me@acme-corp.com")
    outside = [Participant(f"person{i}@company{i % 800}.com") for i in range(5000)]
    personal = [
        Participant(f"friend{i}@{d}")
        for i, d in enumerate(["gmail.com", "outlook.com", "yahoo.com", "icloud.com"] * 50)
    ]
    roles = [
        Participant(f"{r}@company{i}.com")
        for i, r in enumerate(["billing", "support", "info", "sales"] * 100)
    ]
    automated = [
        Participant(f"{r}@service{i}.com")
        for i, r in enumerate(["noreply", "notifications", "bounces+x1"] * 50)
    ]
    messages = []
    for n in range(count):
        kind = rng.random()
        headers = {"return-path": "<x@company1.com>", "x-ms-exchange-organization-scl": "1"}
        if kind < 0.60:
            sender = rng.choice(outside)
            to = [me, *rng.sample(outside, rng.randrange(0, 3))]
            cc = rng.sample(colleagues, rng.randrange(0, 3))
        elif kind < 0.72:
            sender, to, cc = me, rng.sample(colleagues, rng.randrange(1, 4)), []
        elif kind < 0.80:
            sender, to, cc = rng.choice(outside), [me], []
            headers["list-unsubscribe"] = "<mailto:unsubscribe@company1.com>"
        elif kind < 0.86:
            sender, to, cc = rng.choice(automated), [me], []
        elif kind < 0.92:
            sender, to, cc = me, [rng.choice(personal)], []
        else:
            sender, to, cc = rng.choice(roles), [me, rng.choice(roles)], [rng.choice(colleagues)]
        subject = rng.choice(
            [
                "Re: proposal",
                "Meeting notes",
                "Invoice 2291",
                "Quick question",
                "Fwd: contract draft",
                "Your payslip",
                "Renewal",
            ]
        )
        messages.append(
            Message(
                id=str(n),
                internet_message_id=f"<{n}@mail>",
                conversation_id=f"c{n % 3000}",
                folder=rng.choice(["inbox", "inbox", "inbox", "sentitems"]),
                subject=subject,
                from_=sender,
                sender=sender,
                to=to,
                cc=cc,
                headers=headers,
            )
        )
    return messages


def bare_loop(messages: list[Message]) -> int:
    """Touches the fields screening reads, and nothing more."""
    touched = 0
    for m in messages:
        h = m.headers
        touched += bool(m.folder) + m.is_draft + len(m.subject)
        touched += (h.get("auto-submitted") is None) + (h.get("precedence") is None)
        touched += (h.get("list-id") is None) + (h.get("list-unsubscribe") is None)
        touched += h.get("return-path") is None
        for p in (m.from_, *m.to, *m.cc, *m.bcc):
            if p is not None:
                touched += p.valid + len(p.address)
    return touched


def timed(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    messages = make_messages(args.messages, rng)
    base = realistic_policy(rng)

    def cold() -> None:
        policy = Policy(
            **{
                name: getattr(base, name)
                for name in base.__dataclass_fields__
                if base.__dataclass_fields__[name].init
            }
        )
        for m in messages:
            screen(m, policy)

    def warm() -> None:
        for m in messages:
            screen(m, base)

    kept = sum(screen(m, base).keep for m in messages)
    bare = timed(lambda: bare_loop(messages), args.rounds)
    cold_s = timed(cold, args.rounds)
    warm_s = timed(warm, args.rounds)
    n = len(messages)
    print(f"messages: {n:,} ({kept / n:.0%} kept), best of {args.rounds} rounds, one core")
    print(f"bare loop (same fields):  {n / bare:>12,.0f} messages/s")
    print(
        f"screen, cold policy:      {n / cold_s:>12,.0f} messages/s   "
        f"ratio to bare loop {cold_s / bare:.1f}x"
    )
    print(
        f"screen, warm policy:      {n / warm_s:>12,.0f} messages/s   "
        f"ratio to bare loop {warm_s / bare:.1f}x"
    )
    ok = n / cold_s >= TARGET_PER_SECOND
    print(f"target >= {TARGET_PER_SECOND:,}/s (cold): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
