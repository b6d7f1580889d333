"""Bearer access tokens on the resource APIs (RFC 6750): header only, signature first, then one SQL query."""

from functools import cache

import jwt
from django.contrib.auth import get_user_model
from django.db import connection
from oauth2_provider.models import AccessToken, Application
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .models import Plan, Vendor
from .tokens import decode_access_token, token_checksum

REALM = "charp"


class InvalidToken(exceptions.AuthenticationFailed):
    """A token was sent but cannot be used; the challenge carries error="invalid_token" (RFC 6750 §3.1)."""

    default_code = "invalid_token"


def _columns(model, names: list[str]) -> list[str]:
    table = connection.ops.quote_name(model._meta.db_table)
    return [f"{table}.{connection.ops.quote_name(model._meta.get_field(name).column)}" for name in names]


# What a request needs of the token, its client, vendor, plan and service user: read in ONE indexed query.
LOADED = [
    (AccessToken, ["id", "user", "application", "expires", "scope", "created"]),
    (Application, ["id", "client_id", "name", "user"]),
    (Vendor, ["id", "name", "contact_email", "plan", "status", "application", "user", "created_at", "updated_at"]),
    (Plan, [field.name for field in Plan._meta.concrete_fields]),
    (get_user_model(), ["id", "username", "is_active", "is_staff", "is_superuser"]),
]


@cache
def _lookup_sql() -> str:
    """The lookup as fixed SQL: the ORM would recompile the same four-join query on every request."""
    token, application, vendor, plan, user = (connection.ops.quote_name(m._meta.db_table) for m, _ in LOADED)
    columns = ", ".join(column for model, names in LOADED for column in _columns(model, names))
    return (
        f"SELECT {columns} FROM {token}"  # noqa: S608 - table and column names come from the models
        f" JOIN {application} ON {application}.id = {token}.application_id"
        f" JOIN {vendor} ON {vendor}.application_id = {application}.id"
        f" JOIN {plan} ON {plan}.id = {vendor}.plan_id"
        f" JOIN {user} ON {user}.id = {token}.user_id"
        f" WHERE {token}.token_checksum = %s"
    )


@cache
def _converters() -> list[tuple]:
    """Per column, the database converters the ORM would apply (time zones on SQLite, booleans, ...)."""
    converters = []
    for model, names in LOADED:
        for name in names:
            column = model._meta.get_field(name).get_col(model._meta.db_table)
            converters.append((column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)))
    return converters


def _load_access_token(checksum: str) -> AccessToken | None:
    """The access token with application, vendor, plan and user attached, as select_related would give them."""
    with connection.cursor() as cursor:
        cursor.execute(_lookup_sql(), [checksum])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, (column, converters) in enumerate(_converters()):
        for convert in converters:
            values[index] = convert(values[index], column, connection)
    instances, start = [], 0
    for model, names in LOADED:
        attnames = [model._meta.get_field(name).attname for name in names]
        instances.append(model.from_db(connection.alias, attnames, values[start : start + len(names)]))
        start += len(names)
    token, application, vendor, plan, user = instances
    token.application, token.user = application, user
    application.vendor = vendor
    vendor.plan, vendor.application = plan, application
    return token


def authenticate_access_token(token: str) -> AccessToken:
    """Return the live access token row, with its vendor and plan, or raise InvalidToken."""
    try:
        decode_access_token(token)
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The access token has expired. Get a new one at /auth/refresh or /auth/token.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The access token is invalid.") from None
    # The database stays the authority: revocation and suspension bite at once, whatever the signature says.
    access_token = _load_access_token(token_checksum(token))
    if access_token is None:
        raise InvalidToken("The access token has been revoked.")
    if access_token.is_expired():
        raise InvalidToken("The access token has expired. Get a new one at /auth/refresh or /auth/token.")
    if not access_token.application.vendor.is_active:
        raise InvalidToken("This client is suspended. Contact Charp support to reactivate it.")
    return access_token


class BearerTokenAuthentication(BaseAuthentication):
    """Only the Authorization header carries tokens: never the query string or the body (RFC 9700 §4.3.2)."""

    def authenticate(self, request):
        scheme, _, token = get_authorization_header(request).partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        try:
            token = token.strip().decode("ascii")
        except UnicodeDecodeError:
            raise InvalidToken("The access token is invalid.") from None
        if not token or " " in token:
            raise InvalidToken("The Authorization header must be 'Bearer <access token>'.")
        access_token = authenticate_access_token(token)
        return access_token.user, access_token

    def authenticate_header(self, request):
        return f'Bearer realm="{REALM}"'
