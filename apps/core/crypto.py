"""Encryption of secrets at rest — tenant database passwords, robot webhooks (Fernet:
AES-128-CBC + HMAC-SHA256).

Keys come from ``settings.DATASOURCE_ENCRYPTION_KEYS`` (environment variable of the same
name, comma-separated). The first key encrypts; every key decrypts, so a new key can be put
in front, ``manage.py rotate_datasource_keys`` re-encrypts every stored secret with it, and
the old key is removed afterwards. Without keys (development only; production refuses to
start) one key is derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate", "validate_keys"]


def development_key(secret_key: str) -> bytes:
    """A Fernet key derived from SECRET_KEY (development default only)."""
    digest = hashlib.sha256(b"hgj.datasources.encryption:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _configured_keys() -> tuple[str, ...]:
    keys = tuple(k.strip() for k in (settings.DATASOURCE_ENCRYPTION_KEYS or ()) if k.strip())
    if keys:
        return keys
    return (development_key(settings.SECRET_KEY).decode(),)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError) as exc:
            # Never echo the key itself.
            raise ImproperlyConfigured(
                f"DATASOURCE_ENCRYPTION_KEYS: key #{position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from exc
    return MultiFernet(fernets)


def _current() -> MultiFernet:
    return _fernet(_configured_keys())


def validate_keys() -> None:
    """Raise ImproperlyConfigured if a configured key is malformed (checked at start-up)."""
    _current()


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt with any configured key; raises ``InvalidToken`` if none fits."""
    return _current().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """The same secret re-encrypted with the current (first) key."""
    return _current().rotate(token.encode()).decode()
