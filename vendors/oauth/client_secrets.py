"""Client secrets: generated with high entropy, shown once, stored and checked as peppered hashes."""

from functools import cache

from django.contrib.auth.hashers import make_password
from oauth2_provider.generators import generate_client_secret

from vendors.models import Vendor
from vendors.oauth.hashers import ClientSecretHasher

_hasher = ClientSecretHasher()


def new_secret() -> str:
    return generate_client_secret()


def hash_secret(secret: str) -> str:
    return make_password(secret, hasher=ClientSecretHasher.algorithm)


@cache
def _decoy_hash() -> str:
    return hash_secret(new_secret())


def verify_client_secret(vendor: Vendor | None, secret: str) -> bool:
    return matched_secret_hash(vendor, secret) is not None


def matched_secret_hash(vendor: Vendor | None, secret: str) -> str | None:
    """Check a presented secret against the current and, during its grace period, the previous secret.

    Returns the stored hash that matched (the secret's identity for "last used"), or None. Both hashes are always
    computed, against decoys when there is nothing to compare, so an unknown client ID, a
    wrong secret and a right one all cost the same.
    """
    current = vendor.application.client_secret if vendor else _decoy_hash()
    previous_live = vendor is not None and vendor.previous_secret_live
    previous = vendor.previous_secret_hash if previous_live else _decoy_hash()
    matches_current = _hasher.verify(secret, current)
    matches_previous = _hasher.verify(secret, previous)
    if vendor is None:
        return None
    if matches_current:
        return current
    if previous_live and matches_previous:
        return previous
    return None
