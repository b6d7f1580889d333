"""The OAuth 2.0 engine: django-oauth-toolkit extended through its validator, server and backend hooks."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken, refresh_token_expire_timedelta
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import SettingsScopes
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2 import BearerToken, ResourceEndpoint, RevocationEndpoint, TokenEndpoint
from oauthlib.oauth2.rfc6749 import errors, utils
from oauthlib.oauth2.rfc6749.grant_types import ClientCredentialsGrant, RefreshTokenGrant

from charp.http import metrics
from charp.http.logs import client_id_var
from vendors.caching import lookups, versions
from vendors.limits import last_used, request_log
from vendors.limits.failures import FailureBudget
from vendors.limits.issuance import Issuance, IssuanceLimited, count_refresh
from vendors.oauth import client_auth, writes
from vendors.oauth.addresses import AddressNotAllowed
from vendors.oauth.client_secrets import matched_secret_hash
from vendors.oauth.tokens import HEADER, NamedRefresh, effective_scopes, named_refresh, token_checksum

CHANGED_MEANWHILE = (
    "This client was suspended, its tokens revoked or its secret rotated while the request was processed. "
    "Authenticate again with your current credentials."
)
SEND_CREDENTIALS = (
    'send {"client_id": "...", "client_secret": "..."} with Content-Type: application/json, or HTTP Basic '
    "(RFC 6749 §2.3.1)."
)
MALFORMED_CREDENTIALS = (
    "The client credentials cannot be read: an HTTP Basic header must be base64 of client_id:client_secret, a client "
    "ID is at most 100 printable ASCII characters, and a client_id in the body must name the Basic header's client. "
    "Send the client ID and secret you were given, once."
)
AUTHENTICATE_AGAIN = "Authenticate with your client credentials at /auth/token for new tokens."
REVOKED_MEANWHILE = "The refresh token was revoked. Authenticate with your client credentials at /auth/token."
RACE_LOST = (
    "This refresh token was just used by a concurrent request, which received its successor: use that one. "
    f"{AUTHENTICATE_AGAIN}"
)


def _missing_credentials(presented: client_auth.Presented) -> str:
    absent = {"client_id": not presented.client_id, "client_secret": presented.secret is None}
    missing = [name for name, is_absent in absent.items() if is_absent]
    return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing: {SEND_CREDENTIALS}"


def scopes_refused(scopes: list[str], client) -> tuple[list[str], list[str]]:
    """The scopes asked for that are unknown, and those the client's plan does not include."""
    plan = client.vendor.plan
    unknown = [scope for scope in scopes if scope not in oauth2_settings.SCOPES]
    return unknown, [scope for scope in scopes if not plan.allows(scope)]


def refuse_scopes_beyond_the_plan(scopes: list[str], client, request) -> None:
    """invalid_scope naming the scopes asked for that are unknown, or that the client's plan does not include."""
    unknown, beyond = scopes_refused(scopes, client)
    if unknown:
        raise errors.InvalidScopeError(
            description=f"Unknown scope {', '.join(repr(scope) for scope in unknown)}: ask for "
            f"{', '.join(oauth2_settings.SCOPES)} (space-separated), or leave scope out for every API your plan "
            "includes.",
            request=request,
        )
    if beyond:
        plan = client.vendor.plan
        raise errors.InvalidScopeError(
            description=f"Your {plan.name} plan does not include {', '.join(repr(scope) for scope in beyond)}: ask "
            f"only for {' '.join(plan.apis) or 'nothing'}, or leave scope out for every API your plan includes.",
            request=request,
        )


def address_refused(client) -> bool:
    """Whether the client's allow-list leaves out the caller's address, where this endpoint judges it (token and
    refresh requests; vendors/oauth/addresses.py)."""
    current = client_auth.current()
    return current.judges_address and not client.vendor.admits(current.address)


def refuse_other_addresses(client, request) -> None:
    """403 address_not_allowed when `address_refused`."""
    if address_refused(client):
        raise AddressNotAllowed(client_auth.current().address, request=request)


def unknown_refresh_token(presented: str) -> str:
    """What to tell a caller whose refresh token matches no row (nothing of the value is echoed)."""
    if not presented:
        return f"The refresh_token is empty: send the refresh_token of your last token response. {AUTHENTICATE_AGAIN}"
    if presented.startswith(f"{HEADER}."):
        return (
            "This is an access token, not a refresh token: send the refresh_token member of your last token "
            f"response. {AUTHENTICATE_AGAIN}"
        )
    return (
        "This refresh token is unknown: send the refresh_token of your last token response exactly as given (each "
        f"refresh returns a new one). {AUTHENTICATE_AGAIN}"
    )


class ClientCredentialsWithRefreshGrant(ClientCredentialsGrant):
    """Client credentials that also issue a refresh token, as the vendor contract requires.

    RFC 6749 §4.4.3 says a refresh token SHOULD NOT be included; the spec's step 2 includes one, so we do, with
    rotation, reuse detection and hashed storage as compensating controls (docs/design.md, decision 2).
    """

    def create_token_response(self, request, token_handler):
        headers = self._get_default_headers()
        try:
            self.validate_token_request(request)
        except errors.OAuth2Error as e:
            headers.update(e.headers)
            return headers, e.json, e.status_code
        token = token_handler.create_token(request, refresh_token=True)
        for modifier in self._token_modifiers:
            token = modifier(token)
        self.request_validator.save_token(token, request)
        return headers, json.dumps(token), 200


class Server(TokenEndpoint, ResourceEndpoint, RevocationEndpoint):
    """Only what Charp serves: client_credentials and refresh_token grants, Bearer tokens, revocation."""

    def __init__(
        self, request_validator, token_expires_in=None, token_generator=None, refresh_token_generator=None, **kwargs
    ):
        bearer = BearerToken(request_validator, token_generator, token_expires_in, refresh_token_generator)
        grants = {
            "client_credentials": ClientCredentialsWithRefreshGrant(request_validator),
            "refresh_token": RefreshTokenGrant(request_validator),
        }
        TokenEndpoint.__init__(
            self, default_grant_type="client_credentials", default_token_type=bearer, grant_types=grants
        )
        ResourceEndpoint.__init__(self, default_token="Bearer", token_types={"Bearer": bearer})  # noqa: S106
        RevocationEndpoint.__init__(self, request_validator, supported_token_types=("access_token", "refresh_token"))


class Backend(OAuthLibCore):
    """Reads parameters that the view has already parsed and type-checked from JSON or a form."""

    def extract_body(self, request):
        return list(request.oauth_params.items())

    def extract_headers(self, request):
        headers = super().extract_headers(request)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers


class PlanScopes(SettingsScopes):
    """A client may narrow its token to API families of its plan; by default a token covers every family."""

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        vendor = getattr(application, "vendor", None)
        return vendor.plan.apis if vendor else []


class Validator(OAuth2Validator):
    """DOT's validator with vendor-aware client loading, grace-period secrets and a refresh-race guard."""

    def _load_application(self, client_id, request):
        if request.client is not None and getattr(request.client, "client_id", None) == client_id:
            return request.client
        request.client = None
        if isinstance(client_id, str) and client_auth.CLIENT_ID.fullmatch(client_id):
            current = client_auth.current()
            tags = current.tags if current.tagged_client_id == client_id else None
            request.client = lookups.cached_client(client_id, tags)
        return request.client

    def authenticate_client(self, request, *args, **kwargs):
        # The credentials as the view parsed them once for the failure budget, the client copy and this
        # (vendors/oauth/client_auth.py).
        current = client_auth.current()
        presented = current.presented
        if presented.malformed:
            raise errors.InvalidClientError(description=MALFORMED_CREDENTIALS, request=request)
        if not presented.client_id or presented.secret is None:
            raise errors.InvalidClientError(description=_missing_credentials(presented), request=request)
        client = self._load_application(presented.client_id, request)
        matched = matched_secret_hash(getattr(client, "vendor", None), presented.secret)
        if matched is None:
            request.client = None
            return False
        # The secret matched: whatever follows (suspended, another address, over the issuance limit) is the vendor's.
        request_log.identify(client.vendor.pk)
        if not client.vendor.is_active:
            raise errors.UnauthorizedClientError(
                description="This client is suspended. Contact Charp support to reactivate it.", request=request
            )
        if request.grant_type != "refresh_token":  # a refresh's address is judged with its token (below)
            # After the secret is checked, so that only the client itself learns it has an allow-list; a 403, which
            # the view counts as no failed authentication (the credentials were right), giving the issuance back.
            refuse_other_addresses(client, request)
        request.client_id = client.client_id
        # Which secret obtained this token, for the vendor page: a dict write, flushed with usage (no I/O here).
        last_used.record(client.vendor.pk, matched)
        client_id_var.set(client.client_id)  # for the access log
        metrics.plan_var.set(client.vendor.plan.code)
        if current.issued is not None and request.grant_type != "refresh_token":  # a refresh's: judged with its token
            # Counted before authentication, in the view's one round trip; judged now that the plan is known.
            current.issuance = Issuance(client.vendor.plan, current.issued)
            if current.issuance.exceeded:
                raise IssuanceLimited(current.issuance, request=request)
        return True

    def client_authentication_required(self, request, *args, **kwargs):
        return True

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # Without an explicit scope the token is granted every API family and the plan, checked live on each request,
        # decides; so an upgrade takes effect on tokens already issued, and a downgrade bites at once. What the plan
        # allows at issuance is what the response and the JWT say (save_token, tokens.effective_scopes).
        if request.scope:
            refuse_scopes_beyond_the_plan(scopes, client, request)
        return True

    def save_token(self, token, request, *args, **kwargs):
        # The row keeps the grant (the scope asked for, or every family), which the gate checks against the live plan
        # and a refresh carries on (RFC 6749 §6); the response says what the plan allows now, as the JWT's claim does.
        super().save_token(token, request, *args, **kwargs)
        token["scope"] = " ".join(effective_scopes(request))

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        named = self._presentable(refresh_token, client, request)
        if named is not None:
            # Checked by the rotation's one statement (`_rotate`), which falls back to the checks below when it
            # matches no live row: any other answer than a new pair comes from the row, as for an older token.
            request.charp_named, request.refresh_token_instance = named, None
            request.user, request.refresh_token = client.user, refresh_token
            return True
        self._verify_client(request)
        client = request.client
        if self._dot_validate_refresh_token(refresh_token, client, request):
            # After DOT's checks, so that a reused refresh token still revokes its family from any address.
            refuse_other_addresses(client, request)
            if request.scope:
                refuse_scopes_beyond_the_plan(utils.scope_to_list(request.scope), client, request)
            return True
        raise errors.InvalidGrantError(description=self._refresh_refusal(refresh_token, client), request=request)

    @staticmethod
    def _presentable(refresh_token: str, client, request) -> NamedRefresh | None:
        """The client and grant a refresh token names, when the rotation alone may check it: it names the client
        being served, and nothing but its row could refuse it (the address, the scope asked for and the hourly
        limit all allow it), since reuse detection must come before any other refusal."""
        named = named_refresh(refresh_token)
        if named is None or named.client_id != client.client_id or not named.scope or not writes.direct_insert():
            return None
        if getattr(request, "charp_fell_back", False):
            return None
        if address_refused(client):
            return None
        if request.scope:
            asked, granted = utils.scope_to_list(request.scope), utils.scope_to_list(named.scope)
            unknown, beyond = scopes_refused(asked, client)
            if unknown or beyond or any(scope not in granted for scope in asked):
                return None
        if settings.RATELIMIT_ENABLED:
            current = client_auth.current()
            if current.issued is None or current.tagged_client_id != client.client_id:
                return None  # counted once its row is found (Redis unavailable, or a refresh at /auth/token)
            if Issuance(client.vendor.plan, current.issued).exceeded:
                return None
        return named

    def _verify_client(self, request) -> None:
        """Where the client came from the name in the refresh token (RefreshValidator), identify it by the row."""

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        named = getattr(request, "charp_named", None)
        if named is not None:
            return named.scope
        return super().get_original_scopes(refresh_token, request, *args, **kwargs)

    @staticmethod
    def _refresh_refusal(refresh_token: str, client) -> str:
        """Why DOT refused this refresh token (read after it decided, on this failure path only)."""
        rows = list(
            RefreshToken.objects.filter(token_checksum=token_checksum(refresh_token)).values_list(
                "application_id", "revoked"
            )
        )
        if not rows:
            return unknown_refresh_token(refresh_token)
        # Revoked first: DOT has then revoked the whole family, whoever presented it.
        if any(revoked is not None for _application_id, revoked in rows):
            return (
                "This refresh token was already used or revoked, so every token from that login has been revoked "
                f"(a reused refresh token may have been stolen). {AUTHENTICATE_AGAIN}"
            )
        if any(application_id != client.pk for application_id, _revoked in rows):
            return (
                "This refresh token was issued to another client: refresh it without client credentials at "
                "/auth/refresh, or with its own client's."
            )
        days = settings.REFRESH_TOKEN_LIFETIME // 86400
        return f"This refresh token expired: it was not used for {days} days. {AUTHENTICATE_AGAIN}"

    def is_within_original_scope(self, request_scopes, refresh_token, request, *args, **kwargs):
        granted = utils.scope_to_list(self.get_original_scopes(refresh_token, request))
        beyond = [scope for scope in request_scopes if scope not in granted]
        raise errors.InvalidScopeError(
            description=f"This refresh token's grant does not include {', '.join(repr(s) for s in beyond)}: a refresh "
            "may narrow a token's scope, never widen it. Leave scope out, or get a new token with that scope at "
            "/auth/token.",
            request=request,
        )

    def _check_and_set_request_resource(self, request):
        """RFC 8707: this platform is the one resource server its tokens are for."""
        super()._check_and_set_request_resource(request)
        for resource in request.resource:
            if resource != settings.JWT_AUDIENCE:
                raise errors.CustomOAuth2Error(
                    error="invalid_target",
                    description=f"Tokens are issued only for {settings.JWT_AUDIENCE}: send that as 'resource', or "
                    "leave it out.",
                    request=request,
                )

    def save_bearer_token(self, token, request, *args, **kwargs):
        if not writes.direct_insert() or "scope" not in token:
            return super().save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type == "refresh_token":
            return self._rotate(token, request)
        if request.grant_type != "client_credentials":
            return super().save_bearer_token(token, request, *args, **kwargs)
        # The rows DOT's _save_bearer_token writes for this grant, sent as one statement (vendors/oauth/writes.py).
        self._check_and_set_request_resource(request)
        access, refresh = self._token_rows(token, request, family=uuid.uuid4())
        if not writes.insert_token_pair(access, refresh, request.client.vendor):
            raise errors.InvalidClientError(description=CHANGED_MEANWHILE, request=request)

    def _token_rows(self, token, request, *, family, previous=None) -> tuple[AccessToken, RefreshToken]:
        """The new access and refresh token rows DOT would save for `token` (values hashed at rest), unsaved."""
        client, resource = request.client, getattr(request, "resource", [])
        lifetime = token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
        access = AccessToken(
            user=client.user,
            scope=token["scope"],
            expires=timezone.now() + timedelta(seconds=lifetime),
            application=client,
            source_refresh_token=previous,
            resource=resource,
        )
        self._set_token_value(access, token["access_token"])
        refresh = RefreshToken(user=client.user, application=client, token_family=family, resource=resource)
        self._set_token_value(refresh, token["refresh_token"])
        return access, refresh

    def _rotate(self, token, request) -> None:
        """The rows DOT's _save_bearer_token writes for a refresh (rotation, grace period 0: the previous refresh
        token revoked, its access token deleted, a new pair in the same family), as one statement on PostgreSQL
        (vendors/oauth/writes.py), under the vendor's share lock like every token write."""
        self._check_and_set_request_resource(request)
        named = getattr(request, "charp_named", None)
        if named is not None:
            if self._rotate_presented(token, request, named):
                return
            # No live row matched: today's checks say why (reuse revokes the family), or rotate it if it is live.
            request.charp_named, request.charp_fell_back = None, True
            if not self.validate_refresh_token(request.refresh_token, request.client, request):
                raise errors.InvalidGrantError(request=request)
        previous, client = request.refresh_token_instance, request.client
        self._count_refresh(client)
        access, refresh = self._token_rows(token, request, family=previous.token_family, previous=previous)
        ended = previous.access_token.token_checksum
        outcome = writes.rotate_token_pair(previous, access, refresh, client.vendor)
        if outcome is writes.Rotation.VENDOR_CHANGED:
            raise errors.InvalidGrantError(description=REVOKED_MEANWHILE, request=request)
        if outcome is writes.Rotation.ALREADY_USED:
            # Of concurrent refreshes of one token only the first may rotate it; DOT 3.4.1 would hand the others a
            # 200 with the winner's blank (hashed-at-rest) tokens (docs/design.md, decision 4).
            raise errors.InvalidGrantError(description=RACE_LOST, request=request)
        # DOT's rotation deletes the access token, which no receiver hears (vendors/caching/versions.py).
        versions.tokens_ended(client.client_id, [ended])

    def _rotate_presented(self, token, request, named: NamedRefresh) -> bool:
        """Rotate a refresh token of the `<client_id>.<grant>.<random>` format in one statement that checks what
        `_dot_validate_refresh_token` checks (vendors/oauth/writes.py, `rotate_presented`); False when no live row
        matched, with nothing written."""
        client = request.client
        current = client_auth.current()
        if current.issued is not None:
            current.issuance = Issuance(client.vendor.plan, current.issued)  # within the limit (`_presentable`)
        access, refresh = self._token_rows(token, request, family=None)
        expire_delta = refresh_token_expire_timedelta()
        alive_after = timezone.now() - expire_delta if expire_delta else datetime.min.replace(tzinfo=UTC)
        checksum = token_checksum(request.refresh_token)
        outcome, ended = writes.rotate_presented(checksum, named.scope, alive_after, access, refresh, client.vendor)
        if outcome is writes.Rotation.NOT_LIVE:
            return False
        self._identify(client)  # a live row of this client has the token: it is the client's credential
        if outcome is writes.Rotation.VENDOR_CHANGED:
            raise errors.InvalidGrantError(description=REVOKED_MEANWHILE, request=request)
        if outcome is writes.Rotation.ALREADY_USED:
            raise errors.InvalidGrantError(description=RACE_LOST, request=request)
        versions.tokens_ended(client.client_id, [ended])
        return True

    @staticmethod
    def _identify(client) -> None:
        """Name the client of a refresh in the request log, the access log and the metrics."""
        request_log.identify(client.vendor.pk)  # the refresh token is this endpoint's credential
        client_id_var.set(client.client_id)  # for the access log
        metrics.plan_var.set(client.vendor.plan.code)

    @staticmethod
    def _count_refresh(client) -> None:
        """A refresh issues a token too: judged here, where the vendor is known from the refresh token, against the
        count the view's first round trip took when the token named this client (vendors/oauth/tokens.py), else
        counted now (a refresh token of the older format, or a refresh at /auth/token)."""
        current = client_auth.current()
        if current.issued is not None and current.tagged_client_id == client.client_id:
            current.issuance = Issuance(client.vendor.plan, current.issued)
            if current.issuance.exceeded:
                raise IssuanceLimited(current.issuance)
            return
        if current.issued is not None:  # counted for a client that is not the token's: cannot happen, never kept
            FailureBudget.give_back(current.issued)
            current.issued = None
        current.issuance = count_refresh(client.vendor.plan, client.client_id)

    def _save_bearer_token(self, token, request, *args, **kwargs):
        # Inside DOT's transaction: first the vendor's row, shared, as the one-statement path does
        # (vendors/oauth/writes.py), so that a suspension, revoke-all or revoking rotation is ordered before or after
        # this issuance, never beside.
        vendor = request.client.vendor
        previous = getattr(request, "refresh_token_instance", None)
        if not writes.issuance_lock(vendor):
            if previous is not None:
                raise errors.InvalidGrantError(description=REVOKED_MEANWHILE, request=request)
            raise errors.InvalidClientError(description=CHANGED_MEANWHILE, request=request)
        if previous is not None:
            # Of concurrent refreshes of one token only the first to lock it may rotate it; DOT 3.4.1 would hand the
            # others a 200 with the winner's blank (hashed-at-rest) tokens (docs/design.md, decision 4).
            # The same statement also names the access token that DOT's rotation deletes (RefreshToken.revoke()), to
            # announce it; only the refresh row is locked (`of`), as before the join.
            live = RefreshToken.objects.select_for_update(of=("self",)).filter(pk=previous.pk, revoked__isnull=True)
            found = list(live.values_list("pk", "access_token__token_checksum"))
            if not found:
                raise errors.InvalidGrantError(description=RACE_LOST, request=request)
            self._count_refresh(request.client)
            saved = super()._save_bearer_token(token, request, *args, **kwargs)
            versions.tokens_ended(request.client.client_id, [checksum for _, checksum in found if checksum])
            return saved
        return super()._save_bearer_token(token, request, *args, **kwargs)

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        # DOT deletes the access token presented, or the one bound to the refresh token presented, which no receiver
        # hears (vendors/caching/versions.py): read their checksums first, in one indexed statement, and announce them.
        client = request.client
        if getattr(client, "pk", None) is None:
            return super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        checksum = token_checksum(token)
        direct = AccessToken.objects.filter(token_checksum=checksum, application_id=client.pk)
        bound = RefreshToken.objects.filter(
            token_checksum=checksum, application_id=client.pk, access_token__isnull=False
        )
        ended = list(
            direct.values_list("token_checksum", flat=True).union(
                bound.values_list("access_token__token_checksum", flat=True)
            )
        )
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        versions.tokens_ended(client.client_id, ended)

    def _dot_validate_refresh_token(self, refresh_token, client, request):
        """DOT 3.4.1's validate_refresh_token (a test pins its source), but reuse detection reads the family's access
        tokens first, to announce them once RefreshToken.revoke_family() has deleted them (no receiver hears that)."""
        rt = self._refresh_row(refresh_token, request)
        if not rt:
            return False
        if rt.revoked is not None:
            grace_expired = rt.revoked <= timezone.now() - timedelta(
                seconds=oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS
            )
            superseded = AccessToken.objects.filter(source_refresh_token=rt).exists()
            if grace_expired or not superseded:
                if oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION and rt.token_family:
                    family = RefreshToken.objects.filter(token_family=rt.token_family).values("access_token_id")
                    ended = list(
                        AccessToken.objects.filter(pk__in=family).values_list(
                            "application__client_id", "token_checksum"
                        )
                    )
                    RefreshToken.revoke_family(rt.token_family)
                    for client_id, checksum in ended:
                        versions.tokens_ended(client_id, [checksum])
                return False
        if rt.revoked is None:
            if rt.access_token is None:
                return False
            expire_delta = refresh_token_expire_timedelta()
            if expire_delta and rt.access_token.expires + expire_delta <= timezone.now():
                return False
        request.user = rt.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = rt
        return rt.application == client

    @staticmethod
    def _refresh_row(refresh_token: str, request) -> RefreshToken | None:
        """The refresh token's row with its access token, user and client (DOT's select_related("access_token")
        query, ordered live row first, and its two lazy reads of user and application, in one query); read once per
        request, by RefreshValidator.authenticate_client_id when it runs first."""
        checksum = token_checksum(refresh_token)
        read = getattr(request, "charp_refresh_row", None)
        if read is None or read[0] != checksum:
            read = (checksum, lookups.refresh_token_with_client(checksum))
            request.charp_refresh_row = read
        return read[1]

    # DOT drops the user for client_credentials, but RefreshToken.user is NOT NULL: tokens belong to the vendor's
    # service user (docs/design.md, decision 2).
    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        request.user = request.client.user
        return super()._create_access_token(expires, request, token, source_refresh_token)

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        request.user = request.client.user
        return super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)


class RefreshValidator(Validator):
    """For /auth/refresh only: the refresh token alone identifies the client (docs/design.md, decision 3).

    Client credentials are optional there; if they are sent they must authenticate and match the token's client.
    """

    def client_authentication_required(self, request, *args, **kwargs):
        return client_auth.current().presented.sent

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        presented = request.refresh_token
        if not isinstance(presented, str) or not presented:
            self._unknown(presented if isinstance(presented, str) else "", request)
        named = named_refresh(presented)
        if named is not None and client_id in (None, "", named.client_id):
            # The client the token names, from this worker's copy as at /auth/token; identified only once the row
            # is found (the rotation's, or `_verify_client`'s), since the name alone proves nothing.
            client = self._load_application(named.client_id, request)
            if client is not None and client.vendor.is_active:
                request.client_id, request.charp_unverified = client.client_id, True
                return True
        request.client = None
        return self._authenticate_by_row(client_id, request)

    def _verify_client(self, request) -> None:
        if getattr(request, "charp_unverified", False):
            request.charp_unverified = False
            if not self._authenticate_by_row(None, request):
                raise errors.InvalidClientError(request=request)

    def _authenticate_by_row(self, client_id, request) -> bool:
        """The client of the refresh token's row, read with it (older tokens, and any answer but a new pair)."""
        presented = request.refresh_token
        # Several rows may share a checksum (DOT's uniqueness is (token_checksum, revoked)), all of one client: the
        # read orders them by `revoked`, which that unique index serves, never by id, whose ORDER BY id LIMIT 1 lets
        # PostgreSQL walk the primary key instead when its statistics are missing (after a restore or a bulk load):
        # a scan of the whole table on every refresh (`make scale`).
        row = self._refresh_row(presented, request)
        if row is None:
            self._unknown(presented, request)
        client, owner = row.application, row.application.client_id
        if client_id and client_id != owner:
            return False
        request.client = client  # read with the refresh token, from the database
        self._identify(client)  # a suspended client's refusal is in its request log too
        if not client.vendor.is_active:
            raise errors.UnauthorizedClientError(
                description="This client is suspended. Contact Charp support to reactivate it.", request=request
            )
        request.client_id = owner
        return True

    @staticmethod
    def _unknown(presented: str, request):
        # A refresh token that names no client is a failed client authentication here (it is this endpoint's
        # credential): counted against the address's failure budget like a 401, though answered 400 invalid_grant
        # (RFC 6749 §5.2), since no client ID was sent to be wrong.
        client_auth.current().failed_authentication = True
        raise errors.InvalidGrantError(description=unknown_refresh_token(presented), request=request)
