"""The client credentials a request to /auth/* presents, parsed once, with the rules authentication applies.

The failed-authentication throttle, the issuance counter, the worker's client cache and the validator all read the
one `Presented` of a request, so a decoy header can never make them disagree about which client is asking.
"""

import base64
import binascii
import ipaddress
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from django.http import HttpRequest

from vendors.limits import store

# RFC 6749 appendix A.1: a client ID is visible ASCII (VSCHAR); DOT stores at most 100 characters. Anything else
# cannot name a client, so it is refused without a database read (a NUL would not even reach one).
CLIENT_ID = re.compile(r"[\x20-\x7e]{1,100}")
# The shape of the client IDs this platform issues (django-oauth-toolkit's generator: 40 letters and digits). Only
# such an ID is logged for a failed authentication: a secret pasted into the client_id field has another shape.
ISSUED_CLIENT_ID = re.compile(r"[A-Za-z0-9]{40}")


@dataclass(frozen=True)
class Presented:
    """What a request offers to authenticate its client."""

    client_id: str = ""  # a syntactically valid client ID, or "" when none was sent or it cannot be one
    secret: str | None = None
    basic: bool = False  # an HTTP Basic header was sent (the scheme in any case, RFC 9110 §11.1)
    malformed: bool = False  # credentials were sent that can authenticate no client

    @property
    def loggable_id(self) -> str | None:
        """The client ID to log even when authentication fails, so staff can see which vendor is failing."""
        return self.client_id if ISSUED_CLIENT_ID.fullmatch(self.client_id) else None

    @property
    def sent(self) -> bool:
        """Whether the request tried to authenticate its client at all."""
        return self.basic or self.malformed or self.secret is not None


def presented(request: HttpRequest, params: dict[str, str]) -> Presented:
    """HTTP Basic (RFC 6749 §2.3.1: each part form-encoded) if the header is sent, else the body's parameters.

    A body client_id beside a Basic header must name the same client; a body secret beside it is ignored."""
    body_id = params.get("client_id")
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, secret = base64.b64decode(value.strip(), validate=True).decode().split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return Presented(basic=True, malformed=True)
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if body_id is not None and body_id != client_id:
            return Presented(basic=True, malformed=True)
        return _checked(Presented(client_id=client_id, secret=secret, basic=True))
    return _checked(Presented(client_id=body_id or "", secret=params.get("client_secret")))


def _checked(found: Presented) -> Presented:
    if found.client_id and not CLIENT_ID.fullmatch(found.client_id):
        return Presented(secret=found.secret, basic=found.basic, malformed=True)
    return found


@dataclass
class TokenRequest:
    """One request at /auth/* as the view saw it before handing it to django-oauth-toolkit: the credentials, the
    presented client's cache tags and its issuance count from the same Redis round trip, and what the validator
    decided about the issuance limit (read back for the response's headers)."""

    presented: Presented
    tags: store.Tags | None = None
    issued: store.Issued | None = None
    issuance: object | None = field(default=None)  # vendors.limits.issuance.Issuance, set by the validator
    # Set by the validator when the request failed to identify a client without a 401 (an unknown refresh token at
    # /auth/refresh): the view counts it against the failure budget as it counts a 401.
    failed_authentication: bool = False
    # The caller's address (charp.http.client.client_address), judged against the client's allow-list where tokens
    # are issued (`judges_address`); not at /auth/revoke, since ending a token from anywhere takes no access.
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    judges_address: bool = False
    # The client whose tags (and issuance count) the round trip read: the one presented, or at /auth/refresh the one
    # its refresh token names (vendors/oauth/tokens.py, `named_refresh`).
    tagged_client_id: str | None = None

    def __post_init__(self):
        if self.tagged_client_id is None:
            self.tagged_client_id = self.presented.client_id


_current: ContextVar[TokenRequest | None] = ContextVar("token_request", default=None)


@contextmanager
def handling(token_request: TokenRequest):
    """Make `token_request` what `current()` returns while django-oauth-toolkit handles the request."""
    reset = _current.set(token_request)
    try:
        yield token_request
    finally:
        _current.reset(reset)


def current() -> TokenRequest:
    """The request being handled; an empty one outside the views (django-oauth-toolkit called directly)."""
    return _current.get() or TokenRequest(Presented())
