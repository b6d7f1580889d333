"""This worker's copies of what the hot paths read: access tokens, OAuth clients and rendered GET pages.

A copy is used only while its tag is the vendor's current version in the shared store (vendors/caching/versions.py),
checked in the request's first round trip; tokens and clients only while this worker hears the store's
announcements (`Announcements`).
"""

import os
import threading
import time
from collections.abc import Callable, Hashable

import cachetools
import redis
from django.conf import settings

from charp.http import metrics
from vendors.limits import store


class LRU:
    """A thread-safe, size-bounded map (cachetools' TLRUCache) whose entries carry a tag and expire `seconds` after
    they were stored; with a `gate`, entries are neither served nor stored while it returns False."""

    def __init__(self, name: str, seconds_setting: str, max_cost: int, gate: Callable[[], bool] | None = None):
        self.seconds_setting = seconds_setting
        self.max_cost = max_cost
        self.gate = gate
        self._entries = self._empty()
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe
        # Bound once: a lookup costs one increment, without a label lookup.
        self._hit, self._miss = metrics.CACHE_HITS.labels(name), metrics.CACHE_MISSES.labels(name)

    def _empty(self) -> cachetools.TLRUCache:
        # Entries are (tag, value, cost, seconds): the setting is read when an entry is stored, and lives with it.
        return cachetools.TLRUCache(
            self.max_cost, ttu=lambda _key, entry, now: now + entry[3], getsizeof=lambda entry: entry[2]
        )

    @property
    def seconds(self) -> float:
        return getattr(settings, self.seconds_setting)

    def get(self, key: Hashable) -> tuple[str, object] | None:
        """(tag, value) of a live entry, or None; counted as a hit or a miss (a hit's tag is the caller's to check)."""
        if self.gate is not None and not self.gate():
            self._miss.inc()
            return None
        with self._lock:
            try:
                entry = self._entries[key]
            except KeyError:  # absent or expired
                entry = None
        if entry is None:
            self._miss.inc()
            return None
        self._hit.inc()
        return entry[0], entry[1]

    def put(self, key: Hashable, tag: str, value: object, cost: int = 1) -> None:
        seconds = self.seconds
        if seconds <= 0 or cost > self.max_cost or (self.gate is not None and not self.gate()):
            return
        with self._lock:
            # Out first: a replaced entry would otherwise count twice while room is made for the new one.
            self._entries.pop(key, None)
            self._entries[key] = (tag, value, cost, seconds)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries = self._empty()  # at once: TLRUCache.clear() pops entries one by one

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


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
            if store.backend() is store.LOCAL:
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
tokens = LRU("tokens", "AUTH_CACHE_SECONDS", max_cost=10_000, gate=announcements)
# OAuth clients (with vendor, plan and service user) by client ID, None for an unknown one; cost 1 each.
clients = LRU("clients", "AUTH_CACHE_SECONDS", max_cost=10_000, gate=announcements)
# Rendered GET responses by (client ID, absolute URL, media type); cost is the body's size in bytes.
pages = LRU("pages", "READ_CACHE_SECONDS", max_cost=8 * 1024 * 1024)


def clear() -> None:
    tokens.clear()
    clients.clear()
    pages.clear()


def current_tags(client_id: str) -> store.Tags | None:
    """The vendor's tags now, to store with what is about to be read; None when the store is unreachable."""
    return store.call("tags", version_keys=store.version_keys(client_id))
