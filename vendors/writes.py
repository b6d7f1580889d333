"""The one write on the token endpoint's hot path: a new access token and its refresh token, in one statement.

Django would spend four round trips on them (BEGIN, two INSERTs, COMMIT) and wait for the commit's WAL flush.
On PostgreSQL this sends one string: both INSERTs chained by a CTE, run as one implicit transaction that does not
wait for the flush (`synchronous_commit off`, for this transaction only). If PostgreSQL crashes, the tokens issued in
its last fraction of a second may be lost, never half-written: their clients get a 401 and simply authenticate
again, which is why only these rows are written this way (DESIGN.md, decision 6).
"""

from django.db import connection
from django.db.models import Model
from oauth2_provider.models import AccessToken, RefreshToken


def one_statement() -> bool:
    """Whether the database can run insert_token_pair (data-modifying CTEs): PostgreSQL."""
    return connection.vendor == "postgresql"


def _row(instance: Model, skip: str | None = None) -> tuple[list[str], list]:
    """Columns and database values of a new row, as Django's INSERT would send them (pre_save included)."""
    fields = [f for f in instance._meta.concrete_fields if not f.primary_key and f.attname != skip]
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    return [connection.ops.quote_name(f.column) for f in fields], values


def insert_token_pair(access: AccessToken, refresh: RefreshToken) -> None:
    """INSERT both rows; on return they are saved instances with their ids, as after save()."""
    access_columns, access_values = _row(access)
    refresh_columns, refresh_values = _row(refresh, skip="access_token_id")
    table = connection.ops.quote_name
    # Names come from the models and every value is a bound parameter: nothing here is user input.
    sql = (
        "SET LOCAL synchronous_commit TO off; "  # noqa: S608
        f"WITH access AS (INSERT INTO {table(AccessToken._meta.db_table)} ({', '.join(access_columns)}) "
        f"VALUES ({', '.join(['%s'] * len(access_values))}) RETURNING id) "
        f"INSERT INTO {table(RefreshToken._meta.db_table)} ({', '.join(refresh_columns)}, access_token_id) "
        f"SELECT {', '.join(['%s'] * len(refresh_values))}, id FROM access RETURNING id, access_token_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*access_values, *refresh_values])
        cursor.cursor.nextset()  # past the SET
        refresh.pk, access.pk = cursor.fetchone()
    refresh.access_token = access
    for instance in (access, refresh):
        instance._state.adding = False
        instance._state.db = connection.alias
