"""Property tests of /auth/token, /auth/refresh and /auth/revoke request parsing: whatever the body and headers, the
answer is a 2xx or 4xx JSON document (an RFC 6749 §5.2 error when it is not a success), never a 5xx, and never an
echo of a secret or token that was sent."""

import base64
import json
from urllib.parse import quote, urlencode

import pytest
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import get_token
from vendors.oauth.views import InvalidRequest, parse_parameters

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/auth/token", "/auth/refresh", "/auth/revoke"]
NAMES = ["client_id", "client_secret", "grant_type", "refresh_token", "token", "token_type_hint", "scope"]
# Text as a hostile client sends it: any code point, lone surrogates (JSON "\ud800") and NUL included.
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
    st.sampled_from(["", "\ud800", "a\udfffb", "\x00", "client_credentials", "refresh_token", "brands tools", "é"]),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@pytest.fixture(autouse=True)
def no_failure_throttle(settings):
    # Hundreds of failed authentications from one address: the throttle would answer 429 to all but the first.
    settings.AUTH_FAILURES_PER_IP = 1_000_000
    settings.AUTH_FAILURES_PER_CLIENT = 1_000_000


@pytest.fixture
def secrets(free_vendor, api):
    """A real client's secret and live tokens: the values that must never come back in a response."""
    tokens = get_token(api, free_vendor)
    return {
        "client_id": free_vendor.vendor.client_id,
        "client_secret": free_vendor.client_secret,
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
    }


@st.composite
def json_bodies(draw):
    """A JSON object: known parameter names with any JSON value, plus stray names; or any other JSON document."""
    obj = draw(st.dictionaries(st.sampled_from(NAMES) | TEXT, JSON_VALUES, max_size=6))
    if draw(st.integers(0, 9)) == 0:
        return json.dumps(draw(JSON_VALUES)).encode()
    return json.dumps(obj).encode()


@st.composite
def form_bodies(draw):
    pairs = draw(st.lists(st.tuples(st.sampled_from(NAMES) | TEXT, TEXT), max_size=6))
    text = urlencode([(quote(k, safe="", errors="surrogatepass"), v) for k, v in pairs], errors="surrogatepass")
    if draw(st.booleans()):
        # Raw bytes as well: broken percent-encoding, invalid UTF-8, stray separators.
        text += "&" + draw(st.text("%&=+abcdefXYZ0123456789\xff", max_size=20))
    return text.encode("utf-8", "surrogatepass")


AUTHORIZATION = st.one_of(
    st.none(),
    st.builds(
        lambda raw: "Basic " + base64.b64encode(raw).decode(),
        st.binary(max_size=40) | st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
    st.sampled_from(["Basic", "Basic ", "Basic ====", "Bearer x", "basic YTpi", "Digest a=b"]),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-16",
        "text/plain",
        "",
        "multipart/form-data; boundary=x",
    ]
)


def assert_json_answer(response, sent_secrets: list[str]) -> dict:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    assert 200 <= response.status_code < 300 or 400 <= response.status_code < 500, response.status_code
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert isinstance(body, dict)
    if response.status_code >= 400:
        assert set(body) == {"error", "error_description"}, body
        assert isinstance(body["error"], str) and body["error"].isascii() and body["error"]
        assert isinstance(body["error_description"], str) and body["error_description"]
        assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    for secret in sent_secrets:
        assert secret not in text, "a secret or token sent in the request came back in the response"
    return body


@pytest.mark.parametrize("path", ENDPOINTS)
def test_any_json_body_gets_a_json_2xx_or_4xx_without_echoing_secrets(path, secrets):
    client = Client(raise_request_exception=False)

    @PROPERTY_SETTINGS
    @given(body=json_bodies(), auth=AUTHORIZATION, real=st.sets(st.sampled_from(NAMES)))
    def check(body, auth, real):
        data = json.loads(body) if body[:1] == b"{" else None
        if isinstance(data, dict) and real:
            # Real credentials and tokens in some fields, so that the success path and the secret check are
            # exercised too; a JSON dump of them ends the document as a client would send it.
            values = {**secrets, "token": secrets["access_token"]}
            data.update({name: values[name] for name in real if name in values})
            body = json.dumps(data).encode()
        headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
        response = client.post(path, body, content_type="application/json", **headers)
        assert_json_answer(response, [secrets["client_secret"], secrets["access_token"], secrets["refresh_token"]])

    check()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_any_form_body_and_content_type_gets_a_json_2xx_or_4xx(path, secrets):
    client = Client(raise_request_exception=False)

    @PROPERTY_SETTINGS
    @given(body=form_bodies(), content_type=CONTENT_TYPES, auth=AUTHORIZATION, secret_in=st.booleans())
    def check(body, content_type, auth, secret_in):
        if secret_in:
            body += b"&client_secret=" + quote(secrets["client_secret"]).encode()
        headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
        response = client.post(path, body, content_type=content_type, **headers)
        assert_json_answer(response, [secrets["client_secret"], secrets["access_token"], secrets["refresh_token"]])

    check()


@PROPERTY_SETTINGS
@given(document=JSON_VALUES)
def test_parse_parameters_returns_bounded_strings_or_refuses_with_a_4xx(document):
    request = RequestFactory().post("/auth/token", json.dumps(document), content_type="application/json")
    try:
        params = parse_parameters(request)
    except InvalidRequest as exc:
        assert 400 <= exc.status < 500 and exc.description
        return
    assert isinstance(document, dict)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in params.items())
    assert all(value.encode("utf-8") and len(value) <= 4096 and "\x00" not in value for value in params.values())
    assert params == {key: value for key, value in document.items() if value is not None}


def test_a_real_client_still_gets_a_token_through_the_property_checked_parser(client, secrets):
    """The properties above must not hold merely because everything is refused."""
    body = {"client_id": secrets["client_id"], "client_secret": secrets["client_secret"]}
    response = client.post("/auth/token", json.dumps(body), content_type="application/json")
    assert_json_answer(response, [secrets["client_secret"]])
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"
    refreshed = client.post(
        "/auth/refresh",
        json.dumps({"refresh_token": response.json()["refresh_token"]}),
        content_type="application/json",
    )
    assert refreshed.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"client_id": "\\ud800", "client_secret": "x"}',
        b'{"refresh_token": "\\udfff"}',
        b'{"\\ud800": "x"}',
        b'{"client_id": "a", "client_secret": "b", "scope": "\\ud800 brands"}',
    ],
    ids=["deeply-nested", "surrogate-client-id", "surrogate-refresh-token", "surrogate-name", "surrogate-scope"],
)
@pytest.mark.parametrize("path", ENDPOINTS)
def test_bodies_that_used_to_crash_the_parser_are_invalid_requests(client, path, body):
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- HTTP Basic client authentication (RFC 6749 §2.3.1) ---------------------------------------------------------
# A part of the credentials: any text (NUL, colons, percent-encoding, broken percent-encoding, lone surrogates that
# become bytes that are not UTF-8), raw bytes, or the real value as it is or form-encoded.
CREDENTIAL_PARTS = st.one_of(
    st.sampled_from(
        [b"", b"\x00", b"a\x00b", b"%00", b"a%00", b"a:b", b"%3A", b"%zz", b"\xff\xfe", b"caf\xc3\xa9", b"+"]
    ),
    st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=20),
    st.lists(
        st.sampled_from(["a", ":", "\x00", "%00", "%3A", "%zz", "%", "+", "%FF", "é", "\xff", " "]), max_size=6
    ).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass")),
)
# Mostly the scheme as RFC 7617 spells it, so that the credentials behind it are what gets exercised.
SCHEMES = st.one_of(
    st.just("Basic"),
    st.sampled_from(["basic", "BASIC", "bAsIc", "Basic ", "Basic\t", "Basicx", "Basi"]),
    st.text("BASICbasic", min_size=1, max_size=6),
)


def base64_forms(raw: bytes) -> st.SearchStrategy:
    """Standard base64 as RFC 7617 says, or nearly: URL-safe alphabet, padding missing or doubled, whitespace."""
    standard = base64.b64encode(raw).decode()
    return st.sampled_from(
        [
            standard,
            standard,
            standard,
            base64.urlsafe_b64encode(raw).decode(),
            standard.rstrip("="),
            standard + "==",
            f" {standard} ",
        ]
        + [standard[:1] + "\n" + standard[1:]]
    )


@st.composite
def basic_headers(draw, real_id: str, real_secret: str):
    """An Authorization header and whether it carries the real credentials (then always in a standard form)."""
    if draw(st.integers(0, 4)) == 0:
        # The real client's header, its secret as it is or form-encoded: the success path is checked too.
        secret = draw(st.sampled_from([real_secret.encode(), quote_plus_bytes(real_secret)]))
        return "Basic " + base64.b64encode(real_id.encode() + b":" + secret).decode(), True
    real_id_part = draw(st.booleans())
    real_secret_part = draw(st.booleans())
    near = [real_id.encode() + b"\x00", b"\x00" + real_id.encode(), real_id.encode() + b"%00", real_id.upper().encode()]
    client_id = real_id.encode() if real_id_part else draw(st.sampled_from(near) | CREDENTIAL_PARTS)
    secret = quote_plus_bytes(real_secret) if real_secret_part and draw(st.booleans()) else real_secret.encode()
    if not real_secret_part:
        secret = draw(CREDENTIAL_PARTS)
    raw = draw(st.sampled_from([client_id + b":" + secret] * 4 + [client_id, client_id + b"::" + secret, secret]))
    if draw(st.integers(0, 5)) == 0:
        return draw(st.text(st.characters(codec="latin-1"), max_size=40).map("Basic {}".format)), False
    scheme = draw(SCHEMES)
    encoded = draw(base64_forms(raw))
    genuine = real_id_part and real_secret_part and raw == client_id + b":" + secret
    # The scheme is case-insensitive (RFC 9110 §11.1): "basic" with the real credentials authenticates.
    return f"{scheme} {encoded}", genuine and scheme.lower() == "basic" and encoded == base64.b64encode(raw).decode()


def quote_plus_bytes(text: str) -> bytes:
    return quote(text, safe="").replace("%20", "+").encode()


BASIC_BODIES = {
    "/auth/token": "grant_type=client_credentials",
    "/auth/refresh": "refresh_token=not-a-refresh-token",
    "/auth/revoke": "token=not-a-token",
}
# With the real credentials (RFC 6749): a token, a refresh token that is not one, a revocation of an unknown token.
GENUINE_ANSWERS = {"/auth/token": (200, None), "/auth/refresh": (400, "invalid_grant"), "/auth/revoke": (200, None)}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_any_basic_authorization_header_is_a_success_or_an_rfc6749_client_error(path, secrets):
    """Credentials that are not the client's are 401 invalid_client (or 400 invalid_request), never a 5xx."""
    client = Client(raise_request_exception=False)
    sent = [secrets["client_secret"], secrets["access_token"], secrets["refresh_token"]]

    def encoded(raw: bytes) -> tuple[str, bool]:
        return "Basic " + base64.b64encode(raw).decode(), False

    real = f"{secrets['client_id']}:{secrets['client_secret']}".encode()

    # Always tried, whatever the generator draws: NUL in the client ID, raw or percent-encoded.
    @example(header=encoded(b"\x00:x"))
    @example(header=encoded(b"%00:x"))
    @example(header=encoded(real.replace(b":", b"\x00:", 1)))
    @example(header=encoded(b"a:b:c"))
    @example(header=encoded(b"\xff:\xfe"))
    @settings(PROPERTY_SETTINGS, max_examples=100)
    @given(header=basic_headers(secrets["client_id"], secrets["client_secret"]))
    def check(header):
        auth, genuine = header
        response = client.post(
            path, BASIC_BODIES[path], content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=auth
        )
        body = assert_json_answer(response, sent)
        if genuine:
            status, error = GENUINE_ANSWERS[path]
            assert (response.status_code, body.get("error")) == (status, error), body
        elif auth.split(" ", 1)[0].lower() == "basic":
            assert (response.status_code, body["error"]) in {(401, "invalid_client"), (400, "invalid_request")}, body
            if response.status_code == 401:
                assert response["WWW-Authenticate"].startswith("Basic "), response["WWW-Authenticate"]

    check()
