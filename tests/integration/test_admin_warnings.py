"""The Overview's warnings are checked, not guessed: consent as Microsoft answers it for the
directory permission, key rotation from when the key came into use, re-authentication per
affected user with a link to them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from server.auth.key_rotation import fingerprint, note_keys_in_use
from server.db import utcnow
from server.models.connections import MicrosoftConnection
from server.models.keys import EncryptionKeyRecord
from server.models.tenancy import User
from server.sandbox.directory import DEMO_USERS
from tests.integration.admin_helpers import csrf, web_sign_in
from tests.integration.signin_helpers import sign_in_for_token

ALEX, BIANCA, CHEN = DEMO_USERS[0], DEMO_USERS[1], DEMO_USERS[2]
KEY = Fernet.generate_key().decode()


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), "ENCRYPTION_KEYS": (KEY,), "ENCRYPTION_KEY_MAX_AGE_DAYS": 90}


@pytest.fixture
def admin_client(app, sandbox):
    client = app.test_client()
    assert web_sign_in(client, sandbox, ALEX).status_code == 302
    return client


def _warnings(client) -> dict[str, str]:
    page = client.get("/admin/").get_data(as_text=True)
    out = {}
    for part in page.split('data-warning="')[1:]:
        kind, rest = part.split('"', 1)
        out[kind] = rest[1:].split("</li>", 1)[0]
    return out


def test_consent_missing_is_what_microsoft_answers_and_consent_clears_it(
    app, admin_client, sandbox
):
    # Nobody in the tenant consented to the directory permission yet (before the first
    # token for it: an access token already issued stays valid, as at Microsoft).
    sandbox.control(
        "/_sandbox/identity/withhold-consent",
        {"tenant_id": ALEX.tenant_id, "permissions": ["User.ReadBasic.All"]},
    )
    warning = _warnings(admin_client)["consent"]
    assert "AADSTS65001" in warning and "/admin/deployment#consent" in warning
    assert _warnings(admin_client)["consent"]  # kept for ten minutes, not asked again
    start = admin_client.post("/admin/deployment/consent", data={"csrf_token": csrf(admin_client)})
    consent_url = start.headers["Location"]
    answer = sandbox.http.post(consent_url, data={"decision": "accept"}, allow_redirects=False)
    back = urlsplit(answer.headers["Location"])
    assert admin_client.get(f"{back.path}?{back.query}").status_code == 200
    assert "consent" not in _warnings(admin_client)


def test_key_rotation_is_due_by_the_keys_age(app, admin_client, db):
    assert "key_rotation" not in _warnings(admin_client)
    record = db.get(EncryptionKeyRecord, fingerprint(KEY))
    assert record is not None  # recorded when first seen in use
    assert KEY not in record.fingerprint
    record.first_used_at = utcnow() - timedelta(days=91)
    db.commit()
    warning = _warnings(admin_client)["key_rotation"]
    assert "91 days" in warning and "every 90 days" in warning
    # A new key in front: it starts its own age; the old one stays recorded.
    newer = Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = (newer, KEY)
    with app.app_context():
        ages = note_keys_in_use()
    assert list(ages) == [fingerprint(newer), fingerprint(KEY)]
    found = _warnings(admin_client)
    assert "key_rotation" not in found and "key_rotation_in_progress" in found


def test_reauth_warning_counts_the_affected_users_and_links_to_them(app, admin_client, sandbox, db):
    for person in (BIANCA, CHEN):
        sign_in_for_token(app.test_client(), sandbox, person)
    ids = db.scalars(
        select(User.id).where(User.object_id.in_([BIANCA.object_id, CHEN.object_id]))
    ).all()
    for connection in db.scalars(
        select(MicrosoftConnection).where(MicrosoftConnection.user_id.in_(ids))
    ):
        connection.needs_reauth = True
    db.commit()
    warning = _warnings(admin_client)["microsoft_reauth"]
    assert warning.startswith("2 user(s) must sign in to Microsoft again")
    assert "/admin/users?state=needs_reauth" in warning
    listed = admin_client.get("/admin/users?state=needs_reauth").get_data(as_text=True)
    assert BIANCA.email in listed and CHEN.email in listed and ALEX.email not in listed
