"""The staff portal's session store: Django's database sessions, with only a keyed hash of each key at rest and an
idle timeout under the absolute SESSION_COOKIE_AGE.

Why a hash: a row of `django_session` keyed by the cookie value itself is a working staff login for whoever reads
a dump or a backup. Here the row's primary key is HMAC-SHA256(cookie value) under a key derived from SECRET_KEY for
this purpose only, so the browser's cookie stays the only way in, and a dump (data only, without the settings)
yields no key to replay. A keyed hash rather than a plain one because the stored value must not be computable from
a guessed cookie without the server's key either, and the cookie's 32 random characters need no slow hash.

Why 160 bits: the existing 40-character column holds the first 40 hex digits of the HMAC. The cookie carries
32 characters of [a-z0-9], about 165 bits, so the truncation costs nothing an attacker could use: forging a
cookie for a stored row still takes ~2^160 HMAC evaluations even with the key, and two live sessions collide only
after ~2^80 of them. Keeping Django's own model means no migration and `clearsessions` keeps working unchanged.

Why the idle timeout lives in the row's `expire_date`: the database already refuses expired rows on every load, so
an idle session costs no extra check, and `clearsessions` purges idle sessions with the expired ones. Activity
pushes `expire_date` forward at most once per TOUCH_INTERVAL, never past the absolute deadline set at sign-in
(a time kept in the session's data). Sessions only run under /admin/
(charp/http/staff_only.py), so none of this touches the API.

Rows stored by the stock backend (keyed by the clear cookie value) are never found by a hashed lookup: staff who
were signed in before this store sign in again, and `clearsessions` removes those rows once they expire.
"""

import hashlib
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.backends import db
from django.utils import timezone

# The longest an active session goes without its expiry being pushed forward: at most one write a minute per
# session, whatever the number of admin pages it loads.
TOUCH_INTERVAL = timedelta(seconds=60)
# When the session's sign-in happened (ISO 8601, in the session's data): SESSION_COOKIE_AGE counts from it.
SIGNED_IN_AT = "_charp_signed_in_at"


def stored_key(session_key: str) -> str:
    """The primary key of the `django_session` row of the session whose cookie value is `session_key`."""
    digest = hmac.new(settings.SESSION_KEY_HASH_KEY.encode(), session_key.encode(), hashlib.sha256).hexdigest()
    return digest[:40]


class SessionStore(db.SessionStore):
    """Database sessions whose rows are keyed by stored_key() and expire after STAFF_SESSION_IDLE_SECONDS idle."""

    # --- Every lookup and write of a row goes through stored_key() ------------------------------------------------

    def _get_session_from_db(self):
        try:
            return self.model.objects.get(**self._row_filter())
        except self.model.DoesNotExist:
            # As Django's store does: an unknown or expired key is dropped, and a new one is made on save.
            self._session_key = None

    async def _aget_session_from_db(self):
        try:
            return await self.model.objects.aget(**self._row_filter())
        except self.model.DoesNotExist:
            self._session_key = None

    def exists(self, session_key):
        return self.model.objects.filter(session_key=stored_key(session_key)).exists()

    async def aexists(self, session_key):
        return await self.model.objects.filter(session_key=stored_key(session_key)).aexists()

    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key:
            self.model.objects.filter(session_key=stored_key(session_key)).delete()

    async def adelete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key:
            await self.model.objects.filter(session_key=stored_key(session_key)).adelete()

    # clear_expired() and aclear_expired() select on expire_date alone: Django's own are right as they are.

    # --- Absolute limit from sign-in, idle limit from the last activity -------------------------------------------

    def load(self):
        row = self._get_session_from_db()
        return self._loaded(row) if row else {}

    async def aload(self):
        row = await self._aget_session_from_db()
        return self._loaded(row) if row else {}

    def create(self):
        # A new key is a new sign-in (login() cycles or flushes the key): the absolute limit counts from here.
        self[SIGNED_IN_AT] = timezone.now().isoformat()
        super().create()

    async def acreate(self):
        await self.aset(SIGNED_IN_AT, timezone.now().isoformat())
        await super().acreate()

    def cycle_key(self):
        super().cycle_key()
        # The data kept across the new key carries the previous sign-in's time.
        self[SIGNED_IN_AT] = timezone.now().isoformat()

    async def acycle_key(self):
        await super().acycle_key()
        await self.aset(SIGNED_IN_AT, timezone.now().isoformat())

    def _row_filter(self) -> dict:
        return {"session_key": stored_key(self.session_key or ""), "expire_date__gt": timezone.now()}

    def _loaded(self, row) -> dict:
        data = self.decode(row.session_data)
        if SIGNED_IN_AT not in data:
            # Only a row written by other code lacks it; its absolute limit then counts from now rather than never.
            data[SIGNED_IN_AT] = timezone.now().isoformat()
            self.modified = True
        # How much later the row would expire if written now, i.e. the activity since it was last written. (The
        # expiry is passed in: self.get() here would load the session again.)
        gained = _row_expiry(data, self.get_expiry_date(expiry=data.get("_session_expiry"))) - row.expire_date
        if gained >= TOUCH_INTERVAL:
            # SessionMiddleware saves a modified session on the way out, which pushes the row's expiry forward.
            self.modified = True
        return data

    def create_model_instance(self, data):
        return self.model(
            session_key=stored_key(self._get_or_create_session_key()),
            session_data=self.encode(data),
            expire_date=_row_expiry(data, self.get_expiry_date()),
        )

    async def acreate_model_instance(self, data):
        return self.model(
            session_key=stored_key(await self._aget_or_create_session_key()),
            session_data=self.encode(data),
            expire_date=_row_expiry(data, await self.aget_expiry_date()),
        )


def _row_expiry(data: dict, cookie_expiry: datetime) -> datetime:
    """When a row written now expires: idle timeout, absolute limit since sign-in, or the cookie's, soonest first."""
    now = timezone.now()
    signed_in = datetime.fromisoformat(data[SIGNED_IN_AT]) if SIGNED_IN_AT in data else now
    deadline = signed_in + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    return min(now + timedelta(seconds=settings.STAFF_SESSION_IDLE_SECONDS), deadline, cookie_expiry)
