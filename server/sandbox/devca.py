"""The development certificate authority: a local CA and a localhost server certificate.

MSAL for Python accepts only HTTPS authorities, so the sandbox serves HTTPS. On first start we
create a CA (kept on disk so browsers and CA bundles stay valid across restarts) and a server
certificate for localhost / 127.0.0.1 signed by it. Clients trust the CA through CA_BUNDLE.
The same CA can sign the certificate used to sideload the add-in over HTTPS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 3650
SERVER_DAYS = 397  # browsers refuse longer-lived server certificates


@dataclass(frozen=True)
class DevCAPaths:
    ca_cert: Path  # PEM; use as CA_BUNDLE
    ca_key: Path
    server_cert: Path  # PEM chain: server certificate then the CA
    server_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _create_ca(paths: DevCAPaths) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Courier development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Courier development CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(paths.ca_key, key)
    paths.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _san_entries(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for host in hosts:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return entries


def issue_server_cert(
    paths: DevCAPaths,
    hosts: tuple[str, ...] = DEFAULT_HOSTS,
    cert_path: Path | None = None,
    key_path: Path | None = None,
) -> tuple[Path, Path]:
    """Sign a server certificate for `hosts` with the CA; returns (chain PEM, key PEM)."""
    cert_path = cert_path or paths.server_cert
    key_path = key_path or paths.server_key
    ca_key = _load_key(paths.ca_key)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_san_entries(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    return cert_path, key_path


def _server_cert_usable(paths: DevCAPaths) -> bool:
    if not (paths.server_cert.is_file() and paths.server_key.is_file()):
        return False
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    return cert.not_valid_after_utc - _now() > dt.timedelta(days=7)


def ensure_dev_ca(directory: str | Path) -> DevCAPaths:
    """Create (once) the CA and a localhost server certificate under `directory`."""
    base = Path(directory)
    base.mkdir(parents=True, exist_ok=True)
    paths = DevCAPaths(
        ca_cert=base / "ca.pem",
        ca_key=base / "ca-key.pem",
        server_cert=base / "server.pem",
        server_key=base / "server-key.pem",
    )
    if not (paths.ca_cert.is_file() and paths.ca_key.is_file()):
        _create_ca(paths)
        paths.server_cert.unlink(missing_ok=True)
    if not _server_cert_usable(paths):
        issue_server_cert(paths)
    return paths


def ssl_context_for(paths: DevCAPaths):
    """A server-side SSLContext serving the dev server certificate."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(paths.server_cert), str(paths.server_key))
    return context
