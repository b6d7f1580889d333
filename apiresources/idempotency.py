"""`Idempotency-Key` on the writes of the resource APIs, with Stripe's semantics.

A POST, PUT, PATCH or DELETE sent with the header claims the key for the vendor before it runs (an INSERT that the
unique constraint arbitrates, apiresources/services.py) and keeps its response after; a retry of the same request
(method, path and body) within IDEMPOTENCY_KEY_HOURS gets that response again, marked `Idempotent-Replayed: true`.
Keys live in the database, never in a worker's memory or Redis, so neither a restart nor a Redis loss lets a retry
write twice. The requests themselves still run in autocommit: a claim is one statement before the handler and its
answer one statement after.
"""

import hashlib
import logging
import re

from django.db import DatabaseError
from django.http import HttpResponse

from . import services
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
META_KEY = "HTTP_IDEMPOTENCY_KEY"
KEY = re.compile(r"[\x20-\x7e]{1,255}")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Refusals that say nothing about the write (the request never ran, or may run once the caller can): kept, they
# would answer a retry that ought to run. 5xx are not kept either.
NOT_KEPT = frozenset({401, 403, 429})

logger = logging.getLogger(__name__)


class Replayed(Exception):
    """Not an error: the way out of `initial()`, before the handler runs, with the kept response."""

    def __init__(self, response: HttpResponse):
        super().__init__()
        self.response = response


def replay(row: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(row.body), status=row.status, content_type=row.content_type or None)
    if row.location:
        response["Location"] = row.location
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotentWrites:
    """Put before `AdmittedView` in a view's bases: its writes honour `Idempotency-Key` once the gate has admitted
    them (so 401, 403 and 429 never touch a key); reads and requests without the header are left as they were."""

    idempotent_writes = True  # charp.openapi.AutoSchema documents the header and its 409 and 422
    idempotency_claim: IdempotencyKey | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in WRITES or META_KEY not in request.META:
            return
        key = request.META[META_KEY]
        if not KEY.fullmatch(key):
            raise services.InvalidIdempotencyKey()
        row = services.idempotency_key_claim(
            vendor=self.admission.vendor,
            key=key,
            method=request.method,
            path=request.path.rstrip("/") or "/",  # every path answers with or without the slash
            body_sha256=hashlib.sha256(request._request.body).hexdigest(),
        )
        if row.status is not None:
            raise Replayed(replay(row))
        self.idempotency_claim = row

    def handle_exception(self, exc):
        if isinstance(exc, Replayed):
            return exc.response
        try:
            return super().handle_exception(exc)
        except BaseException:  # an answer Django will turn into a 500: let a retry run again
            self._release()
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.idempotency_claim is None:
            return response
        try:
            if hasattr(response, "render"):
                response.render()  # the bytes to keep are the bytes sent
        except BaseException:
            self._release()
            raise
        if response.status_code >= 500 or response.status_code in NOT_KEPT:
            self._release()
        else:
            self._keep(response)
        return response

    def _keep(self, response: HttpResponse) -> None:
        claim, self.idempotency_claim = self.idempotency_claim, None
        try:
            kept = services.idempotency_key_finish(
                claim=claim,
                status=response.status_code,
                content_type=response.get("Content-Type", ""),
                location=response.get("Location", ""),
                body=response.content,
            )
        except DatabaseError:
            # The write is done and its answer goes out; only a retry would be wrong, so the claim stays: a retry
            # gets 409 until the claim is abandoned (services.CLAIM_TIMEOUT), and then runs again.
            logger.exception("The response to a request with an Idempotency-Key could not be kept.")
            return
        if not kept:
            logger.warning("An Idempotency-Key claim was taken over as abandoned while its request still ran.")

    def _release(self) -> None:
        claim, self.idempotency_claim = self.idempotency_claim, None
        if claim is None:
            return
        try:
            services.idempotency_key_release(claim=claim)
        except DatabaseError:  # the database is down: the claim is abandoned, and a retry takes it over in time
            logger.warning("An Idempotency-Key claim could not be released; it expires as abandoned.")
