"""The writes on the token endpoints' hot paths, each one statement: a new access token and its refresh token
(`insert_token_pair`), and a refresh's rotation (`rotate_token_pair`).

Hand-written because Django's BEGIN, two INSERTs and COMMIT took 5.6 ms, this one statement 1.6 ms (PG 15).

Django would spend four round trips on them (BEGIN, two INSERTs, COMMIT) and wait for the commit's WAL flush.
On PostgreSQL this sends one statement: both INSERTs chained by a CTE, run as one implicit transaction that does not
wait for the flush (`synchronous_commit off`, for this transaction only, set by the statement itself). If PostgreSQL
crashes, the tokens issued in its last fraction of a second may be lost, never half-written: their clients get a 401
and simply authenticate again, which is why only these rows are written this way. On SQLite (the embedded default)
the same rows are two INSERT ... SELECT statements in one transaction, as many as django-oauth-toolkit's, so that the
check below costs no query there either.

Every token write, this one and django-oauth-toolkit's own, happens under a share lock of the vendor's row and only
while that row still says what the request authenticated against (active, the same `token_generation`): the order
that makes revocation final (vendors/services.py, `_end_every_token`).
"""

import enum
import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from vendors.models import Vendor, insert_columns, insert_fields, insert_values


def direct_insert() -> bool:
    """Whether insert_token_pair can write the rows on this database: PostgreSQL and SQLite."""
    return connection.vendor in ("postgresql", "sqlite")


# A CTE that turns off the wait for the WAL flush for the statement's own implicit transaction: set_config(..., true)
# lasts until that transaction's commit, which it governs (measured: 3 WAL syncs for 300 such INSERTs, 300 without).
# Inside the statement, not a SET before it, because a string of several statements cannot be prepared.
_UNFLUSHED = "unflushed AS (SELECT set_config('synchronous_commit', 'off', true))"


@functools.cache
def _statement() -> str:
    """The SQL, built once per process from the models."""
    quote = connection.ops.quote_name
    access, refresh = insert_fields(AccessToken), insert_fields(RefreshToken, "access_token_id")

    # Names come from the models and every value is a bound parameter: nothing here is user input.
    return (
        f"WITH {_UNFLUSHED}, vendor AS ({_issuance_check()}), "  # noqa: S608
        f"access AS (INSERT INTO {quote(AccessToken._meta.db_table)} ({insert_columns(access)}) "
        f"SELECT {', '.join(['%s'] * len(access))} FROM vendor, unflushed RETURNING id) "
        f"INSERT INTO {quote(RefreshToken._meta.db_table)} ({insert_columns(refresh)}, access_token_id) "
        f"SELECT {', '.join(['%s'] * len(refresh))}, id FROM access RETURNING id, access_token_id"
    )


@functools.cache
def _issuance_check() -> str:
    """SELECT the vendor's row if it may still be issued tokens, under a share lock on PostgreSQL.

    Share locks do not wait for each other, so issuances never queue behind one another, only behind a staff action
    holding the row (FOR UPDATE); then PostgreSQL re-reads the row once that commits and re-checks the conditions.
    """
    quote = connection.ops.quote_name
    table = quote(Vendor._meta.db_table)
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    return (
        f"SELECT 1 FROM {table} WHERE {quote('id')} = %s AND {quote('status')} = %s "  # noqa: S608
        f"AND {quote('token_generation')} = %s{lock}"
    )


def issuance_lock(vendor: Vendor) -> bool:
    """Inside the issuing transaction: lock the vendor's row (shared) and say whether it may still be issued tokens,
    that is whether it is active and at the generation `vendor` was read with."""
    with connection.cursor() as cursor:
        cursor.execute(_issuance_check(), _issuance_params(vendor))
        return cursor.fetchone() is not None


def _issuance_params(vendor: Vendor) -> list:
    return [vendor.pk, Vendor.Status.ACTIVE, vendor.token_generation]


@functools.cache
def _sqlite_statements() -> tuple[str, str]:
    quote = connection.ops.quote_name
    access, refresh = insert_fields(AccessToken), insert_fields(RefreshToken, "access_token_id")

    # Names come from the models and every value is a bound parameter: nothing here is user input.
    return (
        f"INSERT INTO {quote(AccessToken._meta.db_table)} ({insert_columns(access)}) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(access))} WHERE EXISTS ({_issuance_check()}) RETURNING id",
        f"INSERT INTO {quote(RefreshToken._meta.db_table)} ({insert_columns(refresh)}, access_token_id) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * (len(refresh) + 1))}) RETURNING id",
    )


def insert_token_pair(access: AccessToken, refresh: RefreshToken, vendor: Vendor) -> bool:
    """INSERT both rows if `vendor` may still be issued tokens (see `issuance_lock`); on True they are saved
    instances with their ids, as after save(); on False nothing was written."""
    db = connections[DEFAULT_DB_ALIAS]
    access_values = insert_values(access, insert_fields(AccessToken), db)
    refresh_values = insert_values(refresh, insert_fields(RefreshToken, "access_token_id"), db)
    if db.vendor == "sqlite":
        access_sql, refresh_sql = _sqlite_statements()
        with transaction.atomic(), db.cursor() as cursor:
            cursor.execute(access_sql, [*access_values, *_issuance_params(vendor)])
            row = cursor.fetchone()
            if row is None:
                return False
            access.pk = row[0]
            cursor.execute(refresh_sql, [*refresh_values, access.pk])
            refresh.pk = cursor.fetchone()[0]
    else:
        with db.cursor() as cursor:
            cursor.execute(_statement(), [*_issuance_params(vendor), *access_values, *refresh_values])
            row = cursor.fetchone()
        if row is None:
            return False
        refresh.pk, access.pk = row
    _saved(access, refresh)
    return True


def _saved(access: AccessToken, refresh: RefreshToken) -> None:
    """Mark the pair written as save() would have left it."""
    refresh.access_token = access
    for instance in (access, refresh):
        instance._state.adding = False
        instance._state.db = DEFAULT_DB_ALIAS


class Rotation(enum.Enum):
    ROTATED = "rotated"
    VENDOR_CHANGED = "vendor changed"  # suspended, its tokens revoked or its secret rotated with revocation
    ALREADY_USED = "already used"  # a concurrent refresh of the same token rotated it first
    NOT_LIVE = "not live"  # (rotate_presented) no live refresh token of that client and grant has this checksum


def _rotation_parts() -> tuple[str, str, str, str]:
    """The SQL pieces of a rotation: retire the previous refresh token, delete its access token, insert the pair."""
    quote = connection.ops.quote_name
    access, refresh = insert_fields(AccessToken), insert_fields(RefreshToken, "access_token_id")
    access_table, refresh_table = quote(AccessToken._meta.db_table), quote(RefreshToken._meta.db_table)

    # Names come from the models and every value is a bound parameter: nothing here is user input.
    retire = (
        f"UPDATE {refresh_table} SET revoked = %s, updated = %s, access_token_id = NULL "  # noqa: S608
        f"WHERE id = %s AND revoked IS NULL AND EXISTS ({{vendor}}) RETURNING id"
    )
    delete = f"DELETE FROM {access_table} WHERE id = %s"  # noqa: S608
    insert_access = f"INSERT INTO {access_table} ({insert_columns(access)}) SELECT {', '.join(['%s'] * len(access))}"  # noqa: S608
    insert_refresh = (
        f"INSERT INTO {refresh_table} ({insert_columns(refresh)}, access_token_id) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(refresh))}"
    )
    return retire, delete, insert_access, insert_refresh


@functools.cache
def _rotation_statement() -> str:
    """PostgreSQL: the whole rotation as one statement, under the vendor's share lock (as `_statement`).

    Of concurrent rotations of one refresh token, the UPDATE of the first to lock its row wins; the others wait for
    it, re-check `revoked IS NULL` on the row it committed, update nothing, and so write nothing. The last SELECT
    always answers one row: whether the vendor still matched, and the new ids (NULL when nothing was written).
    """
    retire, delete, insert_access, insert_refresh = _rotation_parts()
    return (
        f"WITH {_UNFLUSHED}, vendor AS ({_issuance_check()}), "  # noqa: S608 (names from the models, values bound)
        f"previous AS ({retire.format(vendor='SELECT 1 FROM vendor, unflushed')}), "
        f"ended AS ({delete} AND EXISTS (SELECT 1 FROM previous)), "
        f"access AS ({insert_access} FROM previous RETURNING id), "
        f"refresh AS ({insert_refresh}, id FROM access RETURNING id, access_token_id) "
        "SELECT EXISTS (SELECT 1 FROM vendor), refresh.id, refresh.access_token_id "
        "FROM (VALUES (1)) AS one LEFT JOIN refresh ON true"
    )


def rotate_token_pair(previous: RefreshToken, access: AccessToken, refresh: RefreshToken, vendor: Vendor) -> Rotation:
    """Retire `previous` (revoked, unbound from its access token, which is deleted) and INSERT the new pair, if
    `previous` is still live and `vendor` may still be issued tokens (see `issuance_lock`): the rows
    django-oauth-toolkit's rotation writes (grace period 0), in one statement on PostgreSQL. On ROTATED both new
    rows are saved instances with their ids, as after save(); otherwise nothing was written."""
    db = connections[DEFAULT_DB_ALIAS]
    now = timezone.now()
    stamp = previous._meta.get_field("revoked").get_db_prep_save(now, db)
    retire_values = [stamp, stamp, previous.pk]
    access_values = insert_values(access, insert_fields(AccessToken), db)
    refresh_values = insert_values(refresh, insert_fields(RefreshToken, "access_token_id"), db)
    if db.vendor == "sqlite":
        outcome = _rotate_on_sqlite(db, previous, vendor, retire_values, access_values, refresh_values)
        if isinstance(outcome, Rotation):
            return outcome
        access.pk, refresh.pk = outcome
    else:
        with db.cursor() as cursor:
            cursor.execute(
                _rotation_statement(),
                [*_issuance_params(vendor), *retire_values, previous.access_token_id, *access_values, *refresh_values],
            )
            vendor_matched, refresh_id, access_id = cursor.fetchone()
        if refresh_id is None:
            return Rotation.ALREADY_USED if vendor_matched else Rotation.VENDOR_CHANGED
        refresh.pk, access.pk = refresh_id, access_id
    previous.revoked, previous.updated, previous.access_token = now, now, None
    _saved(access, refresh)
    return Rotation.ROTATED


def _rotate_on_sqlite(db, previous, vendor, retire_values, access_values, refresh_values) -> Rotation | tuple:
    """The same rows as four statements in one transaction (SQLite writes one transaction at a time): the refusal,
    or the new access and refresh token ids."""
    retire, delete, insert_access, insert_refresh = _rotation_parts()
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute(retire.format(vendor=_issuance_check()), [*retire_values, *_issuance_params(vendor)])
        if cursor.fetchone() is None:
            return Rotation.ALREADY_USED if issuance_lock(vendor) else Rotation.VENDOR_CHANGED
        cursor.execute(delete, [previous.access_token_id])
        cursor.execute(f"{insert_access} RETURNING id", access_values)
        access_id = cursor.fetchone()[0]
        cursor.execute(f"{insert_refresh}, %s RETURNING id", [*refresh_values, access_id])
        return access_id, cursor.fetchone()[0]


# The checks of DOT's validate_refresh_token on a live row, and the grant the caller signed the new access token
# with: the refresh token under this checksum, not revoked, of this client, bound to an access token of this scope
# that is not older than the refresh token's lifetime allows.
_LIVE = (
    "SELECT r.id, r.access_token_id, r.token_family, a.token_checksum FROM {refresh} r "
    "JOIN {access} a ON a.id = r.access_token_id WHERE r.token_checksum = %s AND r.revoked IS NULL "
    "AND r.application_id = %s AND a.scope = %s AND a.expires > %s"
)


def _presented_parts() -> tuple[str, str, str]:
    """The live row's SELECT, and the INSERTs of the new pair taking the previous row's id and family from it."""
    quote = connection.ops.quote_name
    access_table, refresh_table = quote(AccessToken._meta.db_table), quote(RefreshToken._meta.db_table)
    access = insert_fields(AccessToken, "source_refresh_token_id")
    refresh = insert_fields(RefreshToken, "access_token_id", "token_family")
    live = _LIVE.format(refresh=refresh_table, access=access_table)
    insert_access = (
        f"INSERT INTO {access_table} ({insert_columns(access)}, source_refresh_token_id) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(access))}"
    )
    insert_refresh = (
        f"INSERT INTO {refresh_table} ({insert_columns(refresh)}, token_family, access_token_id) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(refresh))}"
    )
    return live, insert_access, insert_refresh


@functools.cache
def _presented_statement() -> str:
    """PostgreSQL: find the live row and rotate it, in one statement, under the vendor's share lock.

    `live` reads the statement's snapshot; the UPDATE then locks the row and re-checks `revoked IS NULL` on the
    version a concurrent rotation committed, so of concurrent refreshes only the first writes (as in
    `_rotation_statement`). The last SELECT always answers one row: whether the vendor still matched, the ended access
    token's checksum (NULL when no live row matched), the previous row's id and family and the new ids (NULL when
    nothing was written)."""
    quote = connection.ops.quote_name
    access_table, refresh_table = quote(AccessToken._meta.db_table), quote(RefreshToken._meta.db_table)
    live, insert_access, insert_refresh = _presented_parts()
    return (
        f"WITH {_UNFLUSHED}, vendor AS ({_issuance_check()}), live AS ({live}), "  # noqa: S608 (names from models)
        f"previous AS (UPDATE {refresh_table} SET revoked = %s, updated = %s, access_token_id = NULL "
        "WHERE id = (SELECT id FROM live) AND revoked IS NULL AND EXISTS (SELECT 1 FROM vendor, unflushed) "
        "RETURNING id, token_family), "
        f"ended AS (DELETE FROM {access_table} WHERE id = (SELECT access_token_id FROM live) "
        "AND EXISTS (SELECT 1 FROM previous)), "
        f"access AS ({insert_access}, previous.id FROM previous RETURNING id), "
        f"refresh AS ({insert_refresh}, previous.token_family, access.id FROM previous, access "
        "RETURNING id, access_token_id) "
        "SELECT EXISTS (SELECT 1 FROM vendor), live.token_checksum, previous.id, previous.token_family, refresh.id, "
        "refresh.access_token_id FROM (VALUES (1)) AS one LEFT JOIN live ON true LEFT JOIN previous ON true "
        "LEFT JOIN refresh ON true"
    )


def rotate_presented(
    checksum: str, scope: str, alive_after, access: AccessToken, refresh: RefreshToken, vendor: Vendor
) -> tuple[Rotation, str | None]:
    """`rotate_token_pair` for a refresh token known only by its checksum and the client and grant it names
    (vendors/oauth/tokens.py): NOT_LIVE when no live row of `access.application` with that grant, whose access token
    expires after `alive_after`, has it (nothing written; the caller reads the row to say why). On ROTATED the new
    pair is saved (source_refresh_token and token_family set), and the ended access token's checksum comes back."""
    db = connections[DEFAULT_DB_ALIAS]
    stamp = RefreshToken._meta.get_field("revoked").get_db_prep_save(timezone.now(), db)
    expiry = AccessToken._meta.get_field("expires").get_db_prep_save(alive_after, db)
    live_values = [checksum, access.application_id, scope, expiry]
    access_values = insert_values(access, insert_fields(AccessToken, "source_refresh_token_id"), db)
    refresh_values = insert_values(refresh, insert_fields(RefreshToken, "access_token_id", "token_family"), db)
    if db.vendor == "sqlite":
        outcome = _rotate_presented_on_sqlite(db, vendor, live_values, stamp, access_values, refresh_values)
    else:
        with db.cursor() as cursor:
            cursor.execute(
                _presented_statement(),
                [*_issuance_params(vendor), *live_values, stamp, stamp, *access_values, *refresh_values],
            )
            vendor_matched, ended, previous_id, family, refresh_id, access_id = cursor.fetchone()
        if ended is None:
            outcome = Rotation.NOT_LIVE
        elif refresh_id is None:
            outcome = Rotation.ALREADY_USED if vendor_matched else Rotation.VENDOR_CHANGED
        else:
            outcome = (ended, previous_id, family, access_id, refresh_id)
    if isinstance(outcome, Rotation):
        return outcome, None
    ended, previous_id, family, access.pk, refresh.pk = outcome
    access.source_refresh_token_id = previous_id
    refresh.token_family = RefreshToken._meta.get_field("token_family").to_python(family)
    _saved(access, refresh)
    return Rotation.ROTATED, ended


def _rotate_presented_on_sqlite(db, vendor, live_values, stamp, access_values, refresh_values) -> Rotation | tuple:
    """The same rows as five statements in one transaction: the refusal, or (ended access token checksum, previous
    id, family, new access id, new refresh id)."""
    live, insert_access, insert_refresh = _presented_parts()
    retire, delete, _, _ = _rotation_parts()
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute(live, live_values)
        found = cursor.fetchone()
        if found is None:
            return Rotation.NOT_LIVE
        previous_id, access_token_id, family, ended = found
        cursor.execute(retire.format(vendor=_issuance_check()), [stamp, stamp, previous_id, *_issuance_params(vendor)])
        if cursor.fetchone() is None:
            return Rotation.ALREADY_USED if issuance_lock(vendor) else Rotation.VENDOR_CHANGED
        cursor.execute(delete, [access_token_id])
        cursor.execute(f"{insert_access}, %s RETURNING id", [*access_values, previous_id])
        access_id = cursor.fetchone()[0]
        cursor.execute(f"{insert_refresh}, %s, %s RETURNING id", [*refresh_values, family, access_id])
        return ended, previous_id, family, access_id, cursor.fetchone()[0]
