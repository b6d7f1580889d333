"""The one write on the token endpoint's hot path: a new access token and its refresh token, in one statement.

Django would spend four round trips on them (BEGIN, two INSERTs, COMMIT) and wait for the commit's WAL flush.
On PostgreSQL this sends one string: both INSERTs chained by a CTE, run as one implicit transaction that does not
wait for the flush (`synchronous_commit off`, for this transaction only). If PostgreSQL crashes, the tokens issued in
its last fraction of a second may be lost, never half-written: their clients get a 401 and simply authenticate
again, which is why only these rows are written this way (DESIGN.md, decision 6).
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from oauth2_provider.models import AccessToken, RefreshToken


def one_statement() -> bool:
    """Whether the database can run insert_token_pair (data-modifying CTEs): PostgreSQL."""
    return connection.vendor == "postgresql"


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
        f"WITH access AS (INSERT INTO {quote(AccessToken._meta.db_table)} ({columns(access)}) "
        f"VALUES ({', '.join(['%s'] * len(access))}) RETURNING id) "
        f"INSERT INTO {quote(RefreshToken._meta.db_table)} ({columns(refresh)}, access_token_id) "
        f"SELECT {', '.join(['%s'] * len(refresh))}, id FROM access RETURNING id, access_token_id"
    )


def _values(instance: Model, fields: tuple, db) -> list:
    """Database values of a new row, as Django's INSERT would send them (pre_save included)."""
    return [f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields]


def insert_token_pair(access: AccessToken, refresh: RefreshToken) -> None:
    """INSERT both rows; on return they are saved instances with their ids, as after save()."""
    db = connections[DEFAULT_DB_ALIAS]
    params = [
        *_values(access, _fields(AccessToken), db),
        *_values(refresh, _fields(RefreshToken, "access_token_id"), db),
    ]
    with db.cursor() as cursor:
        cursor.execute(_statement(), params)
        cursor.cursor.nextset()  # past the SET
        refresh.pk, access.pk = cursor.fetchone()
    refresh.access_token = access
    for instance in (access, refresh):
        instance._state.adding = False
        instance._state.db = DEFAULT_DB_ALIAS
