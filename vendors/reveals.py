"""One-time reveals: a new client secret held, encrypted, for the single GET page that shows it (Post/Redirect/Get).

The staff action (add vendor, rotate secret) runs on the POST, which stores the secret here and redirects to
`.../secret/<reveal id>/`. That page shows it once: reloading it, going back to it or opening it in a second tab finds
the row gone. What a database dump holds is useless: the secret is AES-GCM ciphertext under a key derived from
SECRET_KEY (not in the database), the URL's random part is stored only as a hash, and the row is bound to the user
and session that issued it. Unviewed rows expire after REVEAL_SECONDS; every new reveal prunes the expired ones.
"""

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from vendors.models import SecretReveal, Vendor

# Long enough to copy a secret after a slow redirect, short enough that a forgotten tab holds nothing for long.
REVEAL_SECONDS = 5 * 60
_NONCE_BYTES = 12


@dataclass(frozen=True)
class Revealed:
    vendor: Vendor
    client_secret: str
    kind: str
    previous_secret_expires_at: datetime | None


@cache
def _key(secret_key: str) -> bytes:
    # A key of its own (HKDF with a purpose label), so no other use of SECRET_KEY can produce or read this ciphertext.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"charp.vendors.reveals.v1")
    return hkdf.derive(secret_key.encode())


def _digest(value: str) -> str:
    return hmac.new(_key(settings.SECRET_KEY), value.encode(), hashlib.sha256).hexdigest()


def _session_hash(session_key: str | None) -> str:
    return _digest(f"session:{session_key or ''}")


def _aad(vendor_id: int, id_hash: str) -> bytes:
    # The ciphertext opens only on its own row and vendor: it cannot be pasted into another reveal.
    return f"{vendor_id}:{id_hash}".encode()


def store(
    *,
    vendor: Vendor,
    client_secret: str,
    kind: str,
    user: AbstractBaseUser,
    session_key: str | None,
    previous_secret_expires_at: datetime | None = None,
) -> str:
    """Keep a secret for one view; returns the reveal ID for the URL (never stored in clear)."""
    now = timezone.now()
    SecretReveal.objects.filter(expires_at__lte=now).delete()
    reveal_id = secrets.token_urlsafe(32)
    id_hash = _digest(f"reveal:{reveal_id}")
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_key(settings.SECRET_KEY)).encrypt(nonce, client_secret.encode(), _aad(vendor.pk, id_hash))
    SecretReveal.objects.create(
        id_hash=id_hash,
        vendor=vendor,
        user=user,
        session_hash=_session_hash(session_key),
        kind=kind,
        ciphertext=nonce + sealed,
        previous_secret_expires_at=previous_secret_expires_at,
        created_at=now,
        expires_at=now + timedelta(seconds=REVEAL_SECONDS),
    )
    return reveal_id


def take(*, reveal_id: str, vendor: Vendor, user: AbstractBaseUser, session_key: str | None) -> Revealed | None:
    """The secret, once: the row is deleted, and only the request whose DELETE removed it gets the secret back.

    Two simultaneous GETs may both read the row; the DELETE decides (on PostgreSQL the second waits for the first's
    row lock and then deletes nothing; SQLite runs one write at a time), so exactly one of them shows the secret.
    """
    id_hash = _digest(f"reveal:{reveal_id}")
    # Only the issuing user's own session finds the row; anyone else holding the URL finds nothing and spends nothing.
    mine = SecretReveal.objects.filter(
        id_hash=id_hash, vendor=vendor, user_id=user.pk, session_hash=_session_hash(session_key)
    )
    row = mine.first()
    if row is None:
        return None
    deleted, _ = SecretReveal.objects.filter(pk=row.pk).delete()
    if deleted != 1 or row.expires_at <= timezone.now():
        return None
    blob = bytes(row.ciphertext)
    secret = AESGCM(_key(settings.SECRET_KEY)).decrypt(
        blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(row.vendor_id, id_hash)
    )
    return Revealed(
        vendor=vendor,
        client_secret=secret.decode(),
        kind=row.kind,
        previous_secret_expires_at=row.previous_secret_expires_at,
    )


def prune() -> int:
    """Delete the reveals nobody viewed in time; returns how many."""
    return SecretReveal.objects.filter(expires_at__lte=timezone.now()).delete()[0]
