"""Locust scenario for bench/load.py: sales reps opening emails and saving some of them.

Each simulated rep runs --rep-rate tasks per second, weighted 3:1:1: open an email (POST
/api/suggestions: who its people are in the CRM); open one and save it to the contact it came
from (POST /api/saves, a new email every time, so each save is a real ledger row and CRM
activity); call the authenticated no-op GET /api/ping, the baseline measured under the same
load.

Run by bench/load.py (it lives in a folder of its own so `make bench`, which runs bench/*.py,
does not start it alone) (which starts the stack and writes the reps' data); not a test.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

from locust import FastHttpUser, constant_throughput, events, task

REPS = json.loads(Path(os.environ["COURIER_LOAD_REPS"]).read_text(encoding="utf-8"))
_next_rep = itertools.count()


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--rep-rate", type=float, default=4.0, help="tasks/s of one rep")


def _item(rep: dict, contact: dict, n: int) -> dict:
    return {
        "subject": f"Follow-up {n}",
        "from": {"address": contact["email"], "name": contact["name"]},
        "to": [{"address": rep["email"], "name": rep["name"]}],
        "cc": [],
        "date": "2026-11-20T09:30:00Z",
        "internet_message_id": f"<load-{rep['index']}-{n}@load.test>",
        "conversation_id": f"load-conversation-{rep['index']}-{n}",
        "item_id": f"AAMk-load-{rep['index']}-{n}",
        "body": "Hello,\n\nthanks for the call today.\n",
    }


class Rep(FastHttpUser):
    def wait_time(self):
        return constant_throughput(self.environment.parsed_options.rep_rate)(self)

    def on_start(self) -> None:
        self.rep = REPS[next(_next_rep) % len(REPS)]
        self.headers = {"Authorization": f"Bearer {self.rep['token']}"}
        self.rng = random.Random(self.rep["index"])
        self.opened = 0

    def _open(self) -> tuple[dict, dict]:
        contact = self.rng.choice(self.rep["contacts"])
        self.opened += 1
        item = _item(self.rep, contact, self.opened)
        self.client.post(
            "/api/suggestions", json={"item": item}, headers=self.headers, name="suggestions"
        )
        return item, contact

    @task(3)
    def open_email(self) -> None:
        self._open()

    @task(1)
    def open_and_save(self) -> None:
        item, contact = self._open()
        links = [{"type": "contact", "id": contact["id"]}]
        with self.client.post(
            "/api/saves",
            json={"item": item, "links": links},
            headers=self.headers,
            name="save",
            catch_response=True,
        ) as answer:
            if answer.status_code != 201:
                answer.failure(f"save answered {answer.status_code}: {answer.text[:200]}")

    @task(1)
    def ping(self) -> None:
        self.client.get("/api/ping", headers=self.headers, name="noop")
