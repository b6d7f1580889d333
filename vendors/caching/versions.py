"""The versions that keep every worker's copies exact (vendors/caching/copies.py), and what moves them.

Every vendor has two versions there (vendors/limits/store.py): `auth` covers its client, vendor row and access
tokens (and, through a global version, every plan); `data` its brands and campaigns. Copies of clients are kept under
the part of `auth` that ending one token does not move, so a refresh keeps its client cached. The rate-limit script that
already runs on every API request hands back both, so a cached token (and a cached page) is checked against them in
that same round trip:

- a change commits, then bumps the version, and the next request in every worker sees a stale tag, drops its copy
  and reads the database: revocation still bites at once, everywhere;
- a tag is read before the database read it guards, so a change that races the read leaves a stale tag behind, never
  a fresh tag on stale data;
- if the store is unreachable nothing cached is trusted (every request reads the database), and a worker that sees
  the store fail empties its caches, since bumps may have been lost meanwhile. Entries also expire after
  AUTH_CACHE_SECONDS / READ_CACHE_SECONDS, which bounds staleness if a bump is lost while this worker did not notice.

CONTRACT below is the whole rule: which version a change of each model bumps and how its client ID is found. One
receiver, `changed`, applies it to post_save of every row, to post_delete where a receiver costs no fast delete, and
to the bulk writes of the project's own models (vendors.models.CachedQuerySet: update(), bulk_create(),
bulk_update(), delete()), so no write through the ORM needs a hand call. Raw SQL must call `invalidate()` itself.

Access tokens are django-oauth-toolkit's rows, without a QuerySet of ours (that would take swapping DOT's models),
and without a delete receiver: it would send a signal per row of every bulk delete (`cleartokens`, a revoke-all).
A new token is in no cache, and an expired one is refused from the cache by its expiry, so only these paths end
tokens that may be cached, and each announces what it ends:

- suspension, revoke-all and a revoking rotation (vendors/services.py): the vendor row's save (token_generation);
- one token revoked by staff: `services.access_token_revoke`;
- RFC 7009 /auth/revoke, refresh rotation and refresh-token reuse detection: `Validator.revoke_token`,
  `_save_bearer_token` and `_dot_validate_refresh_token` (vendors/oauth/server.py), through `tokens_ended`.
"""

import logging
import threading
from collections.abc import Iterable
from typing import NamedTuple

from cachetools import LRUCache
from django.db import transaction
from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save
from oauth2_provider.models import Application

from vendors.caching import copies
from vendors.caching.copies import announcements
from vendors.limits import store
from vendors.models import Vendor, rows_changed

logger = logging.getLogger(__name__)

AUTH, DATA, EVERY, TOKEN = "auth", "data", "every vendor's auth", "auth, announcing the token"


class Rule(NamedTuple):
    bumps: str
    client_id: str | None  # the ORM lookup from a row to its vendor's client ID; None for every vendor
    post_delete: bool


# A model's label, what a committed change of one of its rows bumps, and whether post_delete is heard. A receiver on
# post_delete makes Django load and signal every row it deletes: Campaign (nothing points at a campaign, so its
# deletes are fast) is heard through CachedModel.delete() and its QuerySet instead, AccessToken as the module's
# docstring says. A vendor's deletion cascades to its brands and campaigns; its auth bump covers them, since no token
# of a deleted vendor authenticates.
# fmt: off
CONTRACT: dict[str, Rule] = {
    "oauth2_provider.Application": Rule(AUTH,  "client_id",                       post_delete=True),
    "vendors.Vendor":              Rule(AUTH,  "application__client_id",          post_delete=True),
    "vendors.Plan":                Rule(EVERY, None,                              post_delete=True),
    "oauth2_provider.AccessToken": Rule(TOKEN, "application__client_id",          post_delete=False),
    "apiresources.Brand":          Rule(DATA,  "vendor__application__client_id",  post_delete=True),
    "apiresources.Campaign":       Rule(DATA,  "vendor__application__client_id",  post_delete=False),
}
# fmt: on

# Client IDs by application and by vendor primary key: they never change, and signals carry only the keys. Bounded
# like the client copies (two entries a vendor); a forgotten one costs one query when its rows next change.
_known: LRUCache = LRUCache(maxsize=20_000)
_known_lock = threading.Lock()
_pending = threading.local()
GLOBAL = object()  # stands for "every vendor" (a plan changed)


def remember(application: Application, vendor: Vendor) -> None:
    """Note the client ID of a vendor loaded anyway, so that invalidations need no query."""
    with _known_lock:
        _known[("application", application.pk)] = _known[("vendor", vendor.pk)] = application.client_id


def _client_ids(kind: str, pks: Iterable[int | None]) -> set[str]:
    """The client IDs of these applications or vendors (`kind`), the ones not remembered read in one query."""
    found, missing = set(), set()
    with _known_lock:
        for pk in pks:
            if pk is not None:
                client_id = _known.get((kind, pk))
                if client_id is None:
                    missing.add(pk)
                else:
                    found.add(client_id)
    if missing:
        key = "pk" if kind == "application" else "vendor__pk"
        rows = Application.objects.filter(**{f"{key}__in": missing}).values_list(key, "client_id")
        with _known_lock:
            for pk, client_id in rows:
                _known[(kind, pk)] = client_id
                found.add(client_id)
    return found


def _affected(rule: Rule, rows, updates: dict) -> set[str]:
    """The client IDs of `rows` (instances, or a queryset about to be written with `updates`) under `rule`."""
    hop, _, further = rule.client_id.partition("__")
    if isinstance(rows, QuerySet):
        found = set(rows.order_by().values_list(rule.client_id, flat=True).distinct())
        # Rows moved to another vendor: that one changes too. An expression (bulk_update's) names rows whose new
        # values bulk_update announces itself.
        moved = updates.get(hop, updates.get(f"{hop}_id"))
        moved = moved.pk if isinstance(moved, Model) else moved
        if moved is not None and not hasattr(moved, "resolve_expression"):
            found |= _client_ids(hop, [moved]) if further else {moved}
        return found
    if not further:
        return {getattr(row, hop) for row in rows}
    return _client_ids(hop, [getattr(row, f"{hop}_id") for row in rows])


def changed(sender, instance=None, created: bool = False, rows=None, updates=None, **kwargs) -> None:
    """The one receiver: a row saved or deleted, or rows written in bulk (rows_changed), bump what CONTRACT says."""
    rule = CONTRACT[sender._meta.label]
    if instance is not None:
        if rule.bumps == TOKEN and (created or instance.is_expired()):
            return  # a new token is in no cache yet; an expired one is refused from the cache too (cleartokens)
        rows = [instance]
    if rule.client_id is None:
        invalidate(GLOBAL, auth=True)
        return
    token = instance.token_checksum if rule.bumps == TOKEN else None
    for client_id in _affected(rule, rows, updates or {}):
        invalidate(client_id, auth=rule.bumps != DATA, data=rule.bumps == DATA, token=token)


def tokens_ended(client_id: str, checksums: Iterable[str]) -> None:
    """Announce access tokens that our code ended through DOT, whose deletes no receiver hears (see above)."""
    for checksum in checksums:
        invalidate(client_id, auth=True, token=checksum)


def invalidate(client_id: str | object, *, auth: bool = False, data: bool = False, token: str | None = None) -> None:
    """Bump a vendor's versions (or, with GLOBAL, every vendor's auth version) once the transaction commits; an auth
    change is also announced to every worker, as the one token (checksum) it concerns when `token` is given."""
    bumps = getattr(_pending, "bumps", None)
    if bumps is None:
        bumps = _pending.bumps = set()
        _pending.announce = set()
    if auth:
        _pending.announce.add(f"token:{token}" if token else "client:")
    key = store.version_keys("")[1] if client_id is GLOBAL else store.version_keys(client_id)[0]
    if auth:
        # Ending a token moves the vendor's token version, which the auth tag includes and the client tag does not:
        # a refresh keeps its client in every worker's cache (vendors/limits/store.py, `_versions`).
        bumps.add((key, "t" if token else "a"))
    if data:
        bumps.add((key, "d"))
    # One callback per call, but the first to run sends them all; a rolled-back transaction's bumps go out with the
    # next commit, which is harmless.
    after_commit(_send)


def after_commit(callback) -> None:
    """Bumps go out once the change is visible to other connections (tests that never commit replace this)."""
    transaction.on_commit(callback)


def _send() -> None:
    bumps = getattr(_pending, "bumps", None)
    if not bumps:
        return
    announce = _pending.announce
    _pending.bumps, _pending.announce = set(), set()
    if "client:" in announce:
        announce = {"client:"}  # drops everything, so the single tokens need no word of their own
    _, every, era = store.version_keys("")
    if (every, "a") in bumps:
        copies.tokens.clear()  # this process's own copies go at once, whatever the store says
        copies.clients.clear()
    keys, fields = zip(*sorted(bumps), strict=True)
    sent = store.call(
        "bump", keys=[*keys, era], fields=list(fields), channel=announcements.channel(), messages=sorted(announce)
    )
    if not sent:
        copies.clear()
        logger.error(
            "Cache versions could not be bumped (the rate-limit store is unreachable): other workers may serve "
            "cached tokens or pages for up to AUTH_CACHE_SECONDS / READ_CACHE_SECONDS."
        )


def connect() -> None:
    """Called from VendorsConfig.ready(); models are named by label, so apiresources' need no import here."""
    store.failure_hooks.append(copies.clear)
    rows_changed.connect(changed, dispatch_uid="cache-rows")
    for label, rule in CONTRACT.items():
        post_save.connect(changed, sender=label, dispatch_uid=f"cache-save-{label}")
        if rule.post_delete:
            post_delete.connect(changed, sender=label, dispatch_uid=f"cache-delete-{label}")
