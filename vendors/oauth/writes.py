"""The one write on the token endpoint's hot path: a new access token and its refresh token, in one statement.

Hand-written because Django's BEGIN, two INSERTs and COMMIT took 5.6 ms, this one statement 1.6 ms (PG 15).

Django would spend four round trips on them (BEGIN, two INSERTs, COMMIT) and wait for the commit's WAL flush.
On PostgreSQL this sends one string: both INSERTs chained by a CTE, run as one implicit transaction that does not
wait for the flush (`synchronous_commit off`, for this transaction only). If PostgreSQL crashes, the tokens issued in
its last fraction of a second may be lost, never half-written: their clients get a 401 and simply authenticate
again, which is why only these rows are written this way. On SQLite (the embedded default) the same rows are two
INSERT ... SELECT statements in one transaction, as many as django-oauth-toolkit's, so that the check below costs no
query there either.

Every token write, this one and django-oauth-toolkit's own, happens under a share lock of the vendor's row and only
while that row still says what the request authenticated against (active, the same `token_generation`): the order
that makes revocation final (vendors/services.py, `_end_every_token`).
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Model
from oauth2_provider.models import AccessToken, RefreshToken

from vendors.models import Vendor


def direct_insert() -> bool:
    """Whether insert_token_pair can write the rows on this database: PostgreSQL and SQLite."""
    return connection.vendor in ("postgresql", "sqlite")


@functools.cache
def _fields(model: type[Model], skip: str | None = None) -> tuple:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key and f.attname != skip)


@functools.cache
def _statement() -> str:
    """The SQL, built once per process from the models."""
    quote = connection.ops.quote_name
    access, refresh = _fields(AccessToken), _fields(RefreshToken, "access_token_id")

    def columns(fields):
        return ", ".join(quote(f.column) for f in fields)

    # Names come from the models and every value is a bound parameter: nothing here is user input.
    return (
        "SET LOCAL synchronous_commit TO off; "  # noqa: S608
        f"WITH vendor AS ({_issuance_check()}), "
        f"access AS (INSERT INTO {quote(AccessToken._meta.db_table)} ({columns(access)}) "
        f"SELECT {', '.join(['%s'] * len(access))} FROM vendor RETURNING id) "
        f"INSERT INTO {quote(RefreshToken._meta.db_table)} ({columns(refresh)}, access_token_id) "
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


def _values(instance: Model, fields: tuple, db) -> list:
    """Database values of a new row, as Django's INSERT would send them (pre_save included)."""
    return [f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields]


@functools.cache
def _sqlite_statements() -> tuple[str, str]:
    quote = connection.ops.quote_name
    access, refresh = _fields(AccessToken), _fields(RefreshToken, "access_token_id")

    def columns(fields):
        return ", ".join(quote(f.column) for f in fields)

    # Names come from the models and every value is a bound parameter: nothing here is user input.
    return (
        f"INSERT INTO {quote(AccessToken._meta.db_table)} ({columns(access)}) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(access))} WHERE EXISTS ({_issuance_check()}) RETURNING id",
        f"INSERT INTO {quote(RefreshToken._meta.db_table)} ({columns(refresh)}, access_token_id) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * (len(refresh) + 1))}) RETURNING id",
    )


def insert_token_pair(access: AccessToken, refresh: RefreshToken, vendor: Vendor) -> bool:
    """INSERT both rows if `vendor` may still be issued tokens (see `issuance_lock`); on True they are saved
    instances with their ids, as after save(); on False nothing was written."""
    db = connections[DEFAULT_DB_ALIAS]
    access_values = _values(access, _fields(AccessToken), db)
    refresh_values = _values(refresh, _fields(RefreshToken, "access_token_id"), db)
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
            cursor.cursor.nextset()  # past the SET
            row = cursor.fetchone()
        if row is None:
            return False
        refresh.pk, access.pk = row
    refresh.access_token = access
    for instance in (access, refresh):
        instance._state.adding = False
        instance._state.db = DEFAULT_DB_ALIAS
    return True
