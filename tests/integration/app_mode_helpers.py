"""Application mode in tests: an organisation switched to it, users put in its scope without
ever signing in, the tenant's admin consent given in the sandbox, and a certificate made and
registered on the app (as an admin uploads it in Entra)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from server.demo import seed_demo
from server.models.tenancy import Organisation, User
from server.policy import update_user_policy
from server.sandbox.directory import DirectoryUser
from server.sandbox.mailbox import LABEL_POLICY
from server.sync.app_mode import APPLICATION, put_in_scope, set_sync_mode


def app_mode_users(db, sandbox, people: list[DirectoryUser], consent: bool = True) -> list[User]:
    """The demo organisation in application mode with `people` in scope (none signed in),
    the labels' policy set for each, and (by default) the tenant's admin consent given."""
    seed_demo(db)
    db.commit()
    users = [db.scalar(select(User).where(User.object_id == p.object_id)) for p in people]
    org = db.get(Organisation, users[0].org_id)
    set_sync_mode(db, org, APPLICATION)
    for user in users:
        put_in_scope(db, user)
    db.commit()
    for user in users:
        update_user_policy(user, {k: v for k, v in LABEL_POLICY.items() if k != "auto_create"})
    if consent:
        sandbox.control("/_sandbox/identity/app-grant", {"tenant_id": org.tenant_id})
    return users


@dataclass
class Certificate:
    key_path: str
    cert_path: str
    pem: str
    sha1_hex: str


def make_certificate(directory: Path, name: str = "courier-app") -> Certificate:
    """A self-signed certificate and its key, as `openssl req -x509 -newkey rsa:2048` makes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_path.write_text(pem)
    return Certificate(str(key_path), str(cert_path), pem, cert.fingerprint(hashes.SHA1()).hex())  # noqa: S303
