"""Encryption at rest for secrets (MSAL token caches, CRM tokens): Fernet with rotation.

Keys come from ENCRYPTION_KEYS, newest first. Encrypting always uses the newest key;
decrypting tries each, so rotation is: put a new key in front, run `rotate_text()` over stored
values (or let them be rewritten on their next change), then drop the old key.

In development and test, when ENCRYPTION_KEYS is empty, one key is derived from SECRET_KEY with
HKDF-SHA256 (fixed salt and info below), so the embedded defaults work without setup.
Production refuses to start without ENCRYPTION_KEYS (server/config.py).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_HKDF_SALT = b"courier-encryption-at-rest"
_HKDF_INFO = b"fernet-key-v1"


class DecryptionError(ValueError):
    """A stored secret could not be decrypted with any configured key."""


def derive_key_from_secret(secret_key: str) -> str:
    """The development/test Fernet key: HKDF-SHA256(SECRET_KEY), url-safe base64."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw).decode()


def build_fernet(keys: tuple[str, ...] | list[str], secret_key: str = "") -> MultiFernet:
    """MultiFernet over `keys` (newest first), or the key derived from `secret_key`."""
    key_list = list(keys) or ([derive_key_from_secret(secret_key)] if secret_key else [])
    if not key_list:
        raise ValueError("no encryption key: set ENCRYPTION_KEYS (or SECRET_KEY in development)")
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in key_list])
    except ValueError as exc:
        raise ValueError(f"ENCRYPTION_KEYS: not a Fernet key ({exc})") from None


def _fernet() -> MultiFernet:
    cache = current_app.extensions.setdefault("courier_fernet", {})
    keys = tuple(current_app.config.get("ENCRYPTION_KEYS") or ())
    secret = current_app.config.get("SECRET_KEY", "")
    marker = (keys, secret)
    if cache.get("marker") != marker:
        cache["fernet"] = build_fernet(keys, secret)
        cache["marker"] = marker
    return cache["fernet"]


def encrypt_text(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_text(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise DecryptionError("stored secret cannot be decrypted with ENCRYPTION_KEYS") from None


def rotate_text(ciphertext: str) -> str:
    """Re-encrypt `ciphertext` with the newest key (it may have been made with an older one)."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise DecryptionError("stored secret cannot be decrypted with ENCRYPTION_KEYS") from None


def generate_key() -> str:
    """A new random Fernet key (for ENCRYPTION_KEYS)."""
    return Fernet.generate_key().decode()
