"""The versions that keep every worker's copies exact (vendors/caching/copies.py), and what moves them.

Every vendor has two versions there (vendors/limits/store.py): `auth` changes whenever its client, vendor row or any
of its access tokens changes (and, through a global version, whenever any plan changes); `data` whenever one of its
brands or campaigns does. The rate-limit script that already runs on every API request hands back both, so a
cached token (and a cached page) is checked against them in that same round trip:

- a revocation, suspension or plan change commits, then bumps the version, and the next request in every worker
  sees a stale tag, drops its copy and reads the database: revocation still bites at once, everywhere;
- a tag is read before the database read it guards, so a change that races the read leaves a stale tag behind, never
  a fresh tag on stale data;
- if the store is unreachable nothing cached is trusted (every request reads the database), and a worker that sees
  the store fail empties its caches, since bumps may have been lost meanwhile. Entries also expire after
  AUTH_CACHE_SECONDS / READ_CACHE_SECONDS, which bounds staleness if a bump is lost while this worker did not notice.

Writes made outside model save()/delete() (QuerySet.update(), bulk_create(), raw SQL) send no signals: call
`invalidate()` after them.
"""

import logging
import threading

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from oauth2_provider.models import AccessToken, Application

from vendors.caching import copies
from vendors.caching.copies import announcements
from vendors.limits import store
from vendors.models import Plan, Vendor

logger = logging.getLogger(__name__)


# Client IDs by application and by vendor primary key: they never change, and signals carry only the keys.
_client_ids: dict[tuple[str, int], str] = {}
_pending = threading.local()
GLOBAL = object()  # stands for "every vendor" (a plan changed)


def remember(application: Application, vendor: Vendor) -> None:
    """Note the client ID of a vendor loaded anyway, so that invalidations need no query."""
    _client_ids[("application", application.pk)] = _client_ids[("vendor", vendor.pk)] = application.client_id


def _client_id(kind: str, pk: int | None) -> str | None:
    if pk is None:
        return None
    found = _client_ids.get((kind, pk))
    if found is None:
        rows = Application.objects.filter(**({"pk": pk} if kind == "application" else {"vendor__pk": pk}))
        found = rows.values_list("client_id", flat=True).first()
        if found is not None:
            _client_ids[(kind, pk)] = found
    return found


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
        bumps.add((key, "a"))
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


def _application_changed(sender, instance, **kwargs):
    invalidate(instance.client_id, auth=True)


def _vendor_changed(sender, instance, **kwargs):
    client_id = _client_id("application", instance.application_id)
    if client_id is not None:
        invalidate(client_id, auth=True)


def _token_changed(sender, instance, created=False, **kwargs):
    if created or instance.is_expired():
        return  # a new token is in no cache yet; an expired one is refused from the cache too (cleartokens)
    client_id = _client_id("application", instance.application_id)
    if client_id is not None:
        invalidate(client_id, auth=True, token=instance.token_checksum)


def _plan_changed(sender, instance, **kwargs):
    invalidate(GLOBAL, auth=True)


def _resource_changed(sender, instance, **kwargs):
    client_id = _client_id("vendor", instance.vendor_id)
    if client_id is not None:
        invalidate(client_id, data=True)


def connect() -> None:
    """Called from VendorsConfig.ready(). Brands and campaigns are connected by ApiresourcesConfig."""
    store.failure_hooks.append(copies.clear)
    for signal in (post_save, post_delete):
        signal.connect(_application_changed, sender=Application, dispatch_uid=f"cache-application-{signal}")
        signal.connect(_vendor_changed, sender=Vendor, dispatch_uid=f"cache-vendor-{signal}")
        signal.connect(_token_changed, sender=AccessToken, dispatch_uid=f"cache-token-{signal}")
        signal.connect(_plan_changed, sender=Plan, dispatch_uid=f"cache-plan-{signal}")


def connect_resources(*models) -> None:
    for model in models:
        for signal in (post_save, post_delete):
            signal.connect(_resource_changed, sender=model, dispatch_uid=f"cache-{model._meta.label}-{signal}")
