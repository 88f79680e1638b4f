"""The console's other pages: user detail, audit filter and CSV, activity charts and CSV,
jobs retry and delete, deployment's preflight and the admin consent round trip."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from server.models.admin import AuditEvent
from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession
from server.models.tenancy import User
from server.policy import update_org_policy, update_user_policy
from server.queues import enqueue, get_queue
from server.sandbox.directory import DEMO_USERS
from tests.integration.admin_helpers import csrf, web_sign_in
from tests.integration.signin_helpers import sign_in_for_token

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


@pytest.fixture
def admin_client(app, sandbox):
    client = app.test_client()
    assert web_sign_in(client, sandbox, ALEX).status_code == 302
    return client


def _user(db, person) -> User:
    return db.scalar(select(User).where(User.object_id == person.object_id))


def test_user_detail_shows_where_each_setting_comes_from(app, admin_client, sandbox, db):
    sign_in_for_token(app.test_client(), sandbox, BIANCA)
    bianca = _user(db, BIANCA)
    update_org_policy(
        bianca.org_id, {"history_days": 60, "blocked_domains": ["org.example"]}, actor=None
    )
    update_user_policy(bianca, {"auto_save": "off", "blocked_domains": ["mine.example"]})
    db.add(
        SyncSession(
            org_id=bianca.org_id,
            user_id=bianca.id,
            status="failed",
            items_read=12,
            counts={"automated": 3},
            error="GraphError: boom",
        )
    )
    db.commit()
    page = admin_client.get(f"/admin/users/{bianca.id}").get_data(as_text=True)

    def level(name: str) -> str:
        row = page.split(f'data-setting="{name}"', 1)[1].split("</tr>", 1)[0]
        return row.split('class="level">', 1)[1].split("<", 1)[0].strip()

    assert level("history_days") == "organisation"
    assert level("auto_save") == "user"
    assert level("blocked_domains") == "organisation + user"
    assert level("meetings_enabled") == "default"
    assert "GraphError: boom" in page and ">12<" in page


def test_audit_filter_and_csv_export(app, admin_client, db):
    alex = _user(db, ALEX)
    admin_client.post(
        "/admin/users/action",
        data={
            "csrf_token": csrf(admin_client),
            "action": "disable_sync",
            "selected": ALEX.object_id,
        },
    )
    admin_client.post(
        "/admin/users/action",
        data={
            "csrf_token": csrf(admin_client),
            "action": "enable_sync",
            "selected": ALEX.object_id,
        },
    )
    page = admin_client.get("/admin/audit?action=sync.disabled").get_data(as_text=True)
    assert 'data-action="sync.disabled"' in page and 'data-action="sync.enabled"' not in page
    answer = admin_client.get("/admin/audit.csv")
    assert answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert {r["action"] for r in rows} == {"sync.disabled", "sync.enabled"}
    assert rows[0]["who"] == alex.email and rows[0]["address"]
    exported = db.scalar(select(AuditEvent).where(AuditEvent.action == "export.csv"))
    assert exported.target == "audit-log" and exported.after["rows"] == 2


def test_activity_counts_and_csv(app, admin_client, db):
    alex = _user(db, ALEX)
    for n, (kind, source) in enumerate(
        [("email", "manual"), ("email", "auto"), ("meeting", "meeting")]
    ):
        db.add(
            LedgerEntry(
                org_id=alex.org_id,
                item_key=f"<k{n}>",
                kind=kind,
                crm_target="builtin",
                user_id=alex.id,
                status="saved",
                source=source,
                subject="=HYPERLINK(1)",
                links=[{"type": "account", "id": "acc-1"}],
            )
        )
    db.commit()
    page = admin_client.get("/admin/activity").get_data(as_text=True)
    assert "<svg" in page and "3 in all" in page and "by hand (sidebar)" in page
    days = list(
        csv.reader(io.StringIO(admin_client.get("/admin/activity/days.csv").get_data(as_text=True)))
    )
    assert days[0] == ["day", "emails", "meetings"] and len(days) == 31
    assert sum(int(r[1]) for r in days[1:]) == 2 and sum(int(r[2]) for r in days[1:]) == 1
    people = admin_client.get("/admin/activity/people.csv").get_data(as_text=True)
    assert f"{alex.display_name},2,1" in people


def test_jobs_page_retries_and_deletes_a_failed_job(app, admin_client, db, run_jobs):
    job = enqueue("server.sync.session.no_such_function", queue="default")
    run_jobs()
    queue = get_queue("default")
    assert job.id in queue.failed_job_registry.get_job_ids()
    page = admin_client.get("/admin/jobs").get_data(as_text=True)
    assert f'data-job="{job.id}"' in page and "no_such_function" in page
    retry = {
        "csrf_token": csrf(admin_client),
        "queue": "default",
        "job_id": job.id,
        "action": "retry",
    }
    assert admin_client.post("/admin/jobs/failed", data=retry).status_code == 302
    assert job.id in queue.job_ids
    run_jobs()
    delete = {**retry, "action": "delete"}
    assert admin_client.post("/admin/jobs/failed", data=delete).status_code == 302
    assert job.id not in queue.failed_job_registry.get_job_ids()
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["job.retry", "job.delete"]


def test_preflight_shows_each_check_with_a_failing_one(app, admin_client):
    page = admin_client.get("/admin/deployment?preflight=1").get_data(as_text=True)
    assert "A Graph call works with an admin token" in page
    rows = page.split('id="preflight"', 1)[1]
    # The test server's BASE_URL is http: that check fails and says what to do.
    https_row = rows.split("BASE_URL is https", 1)[1].split("</tr>", 1)[0]
    assert "failed" in https_row and "Outlook" in https_row
    graph_row = rows.split("A Graph call works", 1)[1].split("</tr>", 1)[0]
    assert "passed" in graph_row


def test_admin_consent_round_trip_lands_on_a_success_page(app, admin_client, sandbox, db):
    start = admin_client.post("/admin/deployment/consent", data={"csrf_token": csrf(admin_client)})
    assert start.status_code == 302
    consent_url = start.headers["Location"]
    assert "/v2.0/adminconsent?" in consent_url and ALEX.tenant_id in consent_url
    assert sandbox.http.get(consent_url).status_code == 200
    answer = sandbox.http.post(consent_url, data={"decision": "accept"}, allow_redirects=False)
    back = urlsplit(answer.headers["Location"])
    assert parse_qs(back.query)["admin_consent"] == ["True"]
    done = admin_client.get(f"{back.path}?{back.query}")
    assert done.status_code == 200 and "Admin consent granted" in done.get_data(as_text=True)
    assert db.scalar(select(AuditEvent.action)) == "consent.granted"
    replay = admin_client.get(f"{back.path}?{back.query}")
    assert replay.status_code == 400  # the state was used up


def test_deployment_offers_the_manifest_for_this_server_valid_against_the_schemas(
    app, admin_client
):
    from lxml import etree

    from tests.integration.test_manifest import SCHEMA_DIR

    app.config["BASE_URL"] = "https://courier.example.com"
    # The development add-in id is refused outside localhost: the page says how to fix it.
    page = admin_client.get("/admin/deployment").get_data(as_text=True)
    assert "ADDIN_ID is the development id" in page
    app.config["SETTINGS"] = replace(app.config["SETTINGS"], ADDIN_ID=str(uuid.uuid4()))
    page = admin_client.get("/admin/deployment").get_data(as_text=True)
    assert f"Version <strong>{app.config['ADDIN_VERSION']}</strong>" in page
    assert 'href="/addin/manifest.xml" download' in page
    downloaded = admin_client.get("/addin/manifest.xml")
    assert downloaded.status_code == 200
    assert b"https://courier.example.com/addin/taskpane.html" in downloaded.data
    entry = SCHEMA_DIR / "OfficeAppManifestV1_1.xsd"
    if not entry.is_file():
        pytest.skip(f"manifest XSDs not found at {SCHEMA_DIR}")
    schema = etree.XMLSchema(etree.parse(str(entry)))
    assert schema.validate(etree.ElementTree(etree.fromstring(downloaded.data))), [
        e.message for e in schema.error_log
    ]


def test_why_not_saved_looks_up_the_users_mail_and_gives_each_decision(
    app, admin_client, sandbox, db
):
    from server.policy import update_org_policy as update
    from server.sandbox import graph_state

    # The generated mailbox at its default size: a reset keeps the size another test chose.
    sandbox.control(
        "/_sandbox/graph/configure",
        {
            "messages": graph_state.DEFAULT_MESSAGES,
            "events": graph_state.DEFAULT_EVENTS,
            "seed": graph_state.DEFAULT_SEED,
        },
    )
    sign_in_for_token(app.test_client(), sandbox, BIANCA)
    bianca = _user(db, BIANCA)
    update(bianca.org_id, {"subject_keywords": ["renewal"]}, actor=None)
    page = admin_client.get(f"/admin/users/{bianca.id}?why=renewal").get_data(as_text=True)
    table = page.split('id="why"', 1)[1].split("</table>", 1)[0]
    assert "Renewal" in table and 'data-decision="skipped"' in table
    assert "the subject contains &#34;renewal&#34;" in table  # escaped, as all mail text
    # One message by its internetMessageId.
    from server.auth.tokens import graph_token_for
    from server.mail.graph import GraphClient

    client = GraphClient(app.config["GRAPH_BASE_URL"], graph_token_for(bianca), BIANCA.object_id)
    first = client.get(f"users/{BIANCA.object_id}/messages?$top=1")["value"][0]
    key = first["internetMessageId"]
    one = admin_client.get(f"/admin/users/{bianca.id}", query_string={"why": key})
    rows = one.get_data(as_text=True).split('id="why"', 1)[1].split("</table>", 1)[0]
    assert rows.count("<tr data-decision=") == 1
