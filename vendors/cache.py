"""In-process caches for the hot paths, kept exact by versions in the shared rate-limit store.

Every vendor has two versions there (vendors/ratelimit.py): `auth` changes whenever its client, vendor row or any
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
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from oauth2_provider.models import AccessToken, Application

from . import ratelimit
from .models import Plan, Vendor

logger = logging.getLogger(__name__)


class LRU:
    """A thread-safe, size-bounded map whose entries carry a tag and expire `seconds` after they were stored; with a
    `gate`, entries are neither served nor stored while it returns False."""

    def __init__(self, seconds_setting: str, max_cost: int, gate: Callable[[], bool] | None = None):
        self.seconds_setting = seconds_setting
        self.max_cost = max_cost
        self.gate = gate
        self._entries: OrderedDict[Hashable, tuple[str, object, float, int]] = OrderedDict()
        self._cost = 0
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        return getattr(settings, self.seconds_setting)

    def get(self, key: Hashable) -> tuple[str, object] | None:
        """(tag, value) of a live entry, or None."""
        if self.gate is not None and not self.gate():
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() >= entry[2]:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[0], entry[1]

    def put(self, key: Hashable, tag: str, value: object, cost: int = 1) -> None:
        if self.seconds <= 0 or cost > self.max_cost or (self.gate is not None and not self.gate()):
            return
        with self._lock:
            self._drop(key)
            self._entries[key] = (tag, value, time.monotonic() + self.seconds, cost)
            self._cost += cost
            while self._cost > self.max_cost:
                self._drop(next(iter(self._entries)))

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._cost = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._cost -= entry[3]


class Announcements:
    """This worker's subscription to the announcements that end cached tokens and clients (see `_send`).

    Versions alone cannot survive a rollback that keeps the server: Redis values restored in place (RESTORE, or a
    replica promoted behind a proxy that keeps connections) match the tags cached before the revocation again. An
    announcement is acted on when it is published, so what it ended is no longer in any listening worker when the
    versions go back. Tokens and clients are cached only while this worker is subscribed; a lost subscription empties
    them until it is back. Without Redis (one process) there is nobody to tell.
    """

    def __init__(self):
        self._pid: int | None = None
        self._lock = threading.Lock()
        self.listening = False

    def channel(self) -> str:
        return f"{settings.RATELIMIT_KEY_PREFIX}ended"

    def __call__(self) -> bool:
        """Whether this worker may trust its cached tokens and clients now (it hears every announcement)."""
        if self._pid != os.getpid():
            self._start()
        return self.listening

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid, self.listening = os.getpid(), False
            if ratelimit.backend() is ratelimit.LOCAL:
                self.listening = True
                return
            # Subscribed before the first cached read of this process, then heard in a daemon thread.
            subscription = self._subscribe()
            threading.Thread(target=self._listen, args=(subscription,), daemon=True, name="cache-announcements").start()

    def _subscribe(self):
        from django_redis import get_redis_connection

        try:
            subscription = get_redis_connection("default").pubsub(ignore_subscribe_messages=True)
            subscription.subscribe(self.channel())
        except (redis.RedisError, OSError):
            return None
        clear()  # anything cached before now may have missed an announcement
        self.listening = True
        return subscription

    def _listen(self, subscription) -> None:
        while True:
            if subscription is None:
                time.sleep(1)
                subscription = self._subscribe()
                continue
            try:
                message = subscription.get_message(timeout=1.0)
            except (redis.RedisError, OSError):
                self.listening = False
                clear()
                subscription = None
                continue
            if message is not None:
                _heard(message["data"])


def _heard(data: bytes) -> None:
    kind, _, value = data.decode().partition(":")
    if kind == "token":
        tokens.discard(value)
    else:  # a vendor's client or every plan changed: rare enough to drop everything
        tokens.clear()
        clients.clear()


announcements = Announcements()
# Access tokens by checksum, with application, vendor, plan and service user attached; cost 1 each.
tokens = LRU("AUTH_CACHE_SECONDS", max_cost=10_000, gate=announcements)
# OAuth clients (with vendor, plan and service user) by client ID, None for an unknown one; cost 1 each.
clients = LRU("AUTH_CACHE_SECONDS", max_cost=10_000, gate=announcements)
# Rendered GET responses by (client ID, absolute URL, media type); cost is the body's size in bytes.
reads = LRU("READ_CACHE_SECONDS", max_cost=8 * 1024 * 1024)


def clear() -> None:
    tokens.clear()
    clients.clear()
    reads.clear()


def client(
    client_id: str, read: Callable[[str], Application | None], tags: ratelimit.Tags | None
) -> Application | None:
    """The client, from this worker's copy when its tag is still `tags` (read before, in the request's first round
    trip), else from `read`; always from `read` without tags.

    Unknown client IDs are kept too (as None), so a known and an unknown ID cost the same once seen."""
    if tags is None or settings.AUTH_CACHE_SECONDS <= 0:
        return read(client_id)
    tag = tags.auth
    cached = clients.get(client_id)
    if cached is not None and cached[0] == tag:
        return cached[1]
    application = read(client_id)
    clients.put(client_id, tag, application)
    return application


def current_tags(client_id: str) -> ratelimit.Tags | None:
    """The vendor's tags now, to store with what is about to be read; None when the store is unreachable."""
    return ratelimit.call("tags", version_keys=ratelimit.version_keys(client_id))


# --- Invalidation ---------------------------------------------------------------------------------------------------

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
    key = ratelimit.version_keys("")[1] if client_id is GLOBAL else ratelimit.version_keys(client_id)[0]
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
    _, every, era = ratelimit.version_keys("")
    if (every, "a") in bumps:
        tokens.clear()  # this process's own copies go at once, whatever the store says
        clients.clear()
    keys, fields = zip(*sorted(bumps), strict=True)
    sent = ratelimit.call(
        "bump", keys=[*keys, era], fields=list(fields), channel=announcements.channel(), messages=sorted(announce)
    )
    if not sent:
        clear()
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


def _settings_changed(*, setting, **kwargs):
    # A cached token skips its signature check (it was checked when cached): new keys must empty the cache, as the
    # restart that changes them in production does.
    if setting in ("JWT_SIGNING_KEYS", "JWT_ISSUER", "JWT_AUDIENCE"):
        tokens.clear()


def connect() -> None:
    """Called from VendorsConfig.ready(). Brands and campaigns are connected by ApiresourcesConfig."""
    ratelimit.failure_hooks.append(clear)
    setting_changed.connect(_settings_changed, dispatch_uid="cache-settings")
    for signal in (post_save, post_delete):
        signal.connect(_application_changed, sender=Application, dispatch_uid=f"cache-application-{signal}")
        signal.connect(_vendor_changed, sender=Vendor, dispatch_uid=f"cache-vendor-{signal}")
        signal.connect(_token_changed, sender=AccessToken, dispatch_uid=f"cache-token-{signal}")
        signal.connect(_plan_changed, sender=Plan, dispatch_uid=f"cache-plan-{signal}")


def connect_resources(*models) -> None:
    for model in models:
        for signal in (post_save, post_delete):
            signal.connect(_resource_changed, sender=model, dispatch_uid=f"cache-{model._meta.label}-{signal}")
