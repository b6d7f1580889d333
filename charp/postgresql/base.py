"""Django's PostgreSQL backend with a connection health check that costs no round trip.

Hand-written because the stock check is a SELECT 1 per request: 146 µs, against 7 µs to poll the socket (PG 15).

CONN_HEALTH_CHECKS makes Django ask `is_usable()` before the first query of every request, and the stock answer is a
`SELECT 1`: on the API's hot paths that was one database round trip in three. An idle connection has nothing to
say, so instead this polls its socket: if the server has closed it (a restart, `pg_terminate_backend`, an idle
timeout) the socket is readable with the server's goodbye or EOF, and the connection is replaced before it is used.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != connection.info.transaction_status.IDLE:
            return super().is_usable()  # mid-transaction (or unknown): ask the server as Django does
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
