"""Property tests of what the resource APIs read from a request besides its body: the pagination cursor and every
request header the code parses. Whatever the input, the answer is never a 5xx, and a 4xx is JSON in the API's one
error shape."""

import base64
import io
import itertools
import json
import sys
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, quote_from_bytes, urlsplit

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from apiresources.models import Brand, Campaign
from apiresources.pagination import MAX_ID, decode_cursor, encode_cursor

from .test_fuzz import wsgi_app  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

# Each test sends a few hundred requests at most (a few seconds); derandomized, so a failure is the same on every run.
PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True
)
LISTS = ["/brands", "/campaigns"]


def assert_api_answer(response) -> dict | None:
    """Never a 5xx; a 4xx is {"error", "error_description", "fields"?} as JSON; returns the body, None for a 3xx."""
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if 300 <= response.status_code < 400:
        return None
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    if response.status_code >= 400:
        assert {"error", "error_description"} <= set(body) <= {"error", "error_description", "fields"}, body
        assert isinstance(body["error"], str) and body["error"].isascii() and body["error"], body
        assert isinstance(body["error_description"], str) and body["error_description"], body
        if "fields" in body:
            assert body["error"] == "validation_error", body
            assert all(isinstance(key, str) and isinstance(value, str) for key, value in body["fields"].items())
        if response.status_code == 401:
            assert response["WWW-Authenticate"].startswith("Bearer realm="), response["WWW-Authenticate"]
    return body


@pytest.fixture
def caller(enterprise_vendor, token_for):
    """An Enterprise vendor (both lists reachable) with a few brands and campaigns, and its Bearer header."""
    for index in range(3):
        brand = Brand.objects.create(vendor=enterprise_vendor.vendor, name=f"Brand {index}")
        Campaign.objects.create(vendor=enterprise_vendor.vendor, brand=brand, name=f"Campaign {index}")
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(enterprise_vendor)}"}


# --- Pagination cursors -----------------------------------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def real_cursor(client, path: str, bearer: dict) -> str:
    response = client.get(path, {"limit": 1}, **bearer)
    return parse_qs(urlsplit(response.json()["next"]).query)["cursor"][0]


# A cursor's decoded text is "<ISO 8601 instant>|<id>": each part drawn from valid values, their edges and just past.
YEARS = st.integers(0, 10_001).map(lambda year: f"{year:04d}") | st.sampled_from(["1", "+2026", "-001", "२०२६"])
CLOCKS = st.builds(
    lambda h, m, s, fraction: f"{h:02d}:{m:02d}:{s:02d}{fraction}",
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".0", ".123456", ".1234567", ",5", ".nan"]),
)
OFFSETS = st.one_of(
    st.sampled_from(["+00:00", "Z", "", "-00:00", "+0000", "+16:00", "-16:00", "+23:59", "+24:00", "UTC"]),
    st.builds(
        lambda sign, h, m, rest: f"{sign}{h:02d}:{m:02d}{rest}",
        st.sampled_from("+-"),
        st.integers(0, 30),
        st.integers(0, 70),
        st.sampled_from(["", ":15", ":15.5", ":60"]),
    ),
)
IDS = st.one_of(
    st.integers(-(2**65), 2**65).map(str),
    st.sampled_from([str(MAX_ID), str(MAX_ID + 1), "0", "-0", "", "nan", "inf", "1e3", "1.0", " 1", "+1", "1_0"]),
    st.sampled_from(["١", "𝟏", "9" * 4301, "0x1", "1\x00"]),
)


@st.composite
def near_valid_cursors(draw) -> str:
    """Well-shaped cursors with a mutated instant, offset or id, encoded the API's way or nearly so."""
    date = f"{draw(YEARS)}-{draw(st.integers(0, 13)):02d}-{draw(st.integers(0, 32)):02d}"
    separator = draw(st.sampled_from(["T", "T", " ", "t", "\x00"]))
    text = f"{date}{separator}{draw(CLOCKS)}{draw(OFFSETS)}{draw(st.sampled_from(['|'] * 6 + ['', '||', '|1|']))}"
    raw = (text + draw(IDS)).encode()
    if draw(st.integers(0, 4)) == 0:
        # A stray byte anywhere: NUL, a byte that is not UTF-8, a separator.
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\x00", b"\xff", b"\xc3", b"|", b" "])) + raw[at:]
    encoded = base64.urlsafe_b64encode(raw).decode()
    return draw(
        st.sampled_from(
            [encoded.rstrip("="), encoded.rstrip("=") + "=" * 3, base64.b64encode(raw).decode(), " " + encoded]
        )
    )


@st.composite
def mutated_cursors(draw, real: str) -> str:
    """A real cursor with one character of its text, or of its base64, replaced, inserted or deleted."""
    decoded = draw(st.booleans())
    text = base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)).decode("latin-1") if decoded else real
    at = draw(st.integers(0, len(text)))
    char = draw(st.characters(codec="latin-1") if decoded else st.sampled_from("AZaz09-_=+/.%é\x00 "))
    edit = draw(st.sampled_from(["replace", "insert", "delete"]))
    text = text[:at] + ("" if edit == "delete" else char) + text[at + (edit != "insert") :]
    return b64(text.encode("latin-1")) if decoded else text


def cursor_query(cursor: str | bytes) -> str:
    """The query string carrying a cursor; bytes go as they are percent-encoded (any byte, not only UTF-8)."""
    encoded = quote_from_bytes(cursor, safe="") if isinstance(cursor, bytes) else quote(cursor, safe="")
    return f"cursor={encoded}"


def check_cursor_answer(response) -> None:
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    body = assert_api_answer(response)
    if response.status_code == 200:
        assert set(body) == {"results", "next"} and isinstance(body["results"], list)
    else:
        assert body["error"] == "validation_error" and set(body["fields"]) == {"cursor"}, body
        assert "'next' link" in body["fields"]["cursor"]


ARBITRARY_CURSORS = st.one_of(
    st.text(max_size=80).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=80),
    st.binary(max_size=80).map(b64),
    st.binary(max_size=80).map(lambda raw: base64.b64encode(raw).decode()),
)


@pytest.mark.parametrize("path", LISTS)
def test_any_cursor_is_a_page_or_a_400_that_says_to_follow_the_next_link(path, caller):
    client = Client(raise_request_exception=False)
    real = real_cursor(client, path, caller)

    @PROPERTY_SETTINGS
    @given(cursor=st.one_of(ARBITRARY_CURSORS, near_valid_cursors(), mutated_cursors(real)))
    def check(cursor):
        check_cursor_answer(client.get(path, QUERY_STRING=cursor_query(cursor), **caller))

    check()
    # The properties must not hold merely because every cursor is refused.
    page = client.get(path, QUERY_STRING=cursor_query(real), **caller)
    assert page.status_code == 200 and page.json()["results"]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    created_at=st.datetimes(timezones=st.just(UTC)) | st.datetimes(timezones=st.timezones()),
    pk=st.integers(1, MAX_ID),
)
def test_every_position_round_trips_through_its_cursor(created_at, pk):
    assert decode_cursor(encode_cursor(created_at, pk)) == (created_at.astimezone(UTC), pk)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(cursor=st.text(max_size=80) | st.binary(max_size=60).map(b64) | near_valid_cursors())
def test_decoding_accepts_exactly_the_cursors_encoding_writes(cursor):
    """Whatever decodes is a position within the database's range whose cursor is this very string."""
    try:
        created_at, pk = decode_cursor(cursor)
    except ValidationError:
        return
    assert created_at.utcoffset().total_seconds() == 0 and 0 < pk <= MAX_ID
    assert datetime.min.replace(tzinfo=UTC) <= created_at <= datetime.max.replace(tzinfo=UTC)
    assert encode_cursor(created_at, pk) == cursor


# --- Request headers --------------------------------------------------------------------------------------------
# Header values as a WSGI server hands them over (PEP 3333): text of code points 0-255, each one byte of the request,
# so UTF-8 arrives as its bytes. NUL and other controls are included: not every server refuses them.
HEADER_TEXT = st.one_of(
    st.text(st.characters(codec="latin-1"), max_size=40),
    st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogatepass").decode("latin-1")),
    st.builds(
        lambda unit, count: (unit * count)[:8000],
        st.text(st.characters(codec="latin-1"), min_size=1),
        st.integers(500, 8000),
    ),
    st.sampled_from(["", " ", "\x00", "\t", "\r\n", "\x7f", "ÿ", "Ã©", ",", ";", "=", '"', "\\"]),
)


def joined(parts: st.SearchStrategy, separators=(", ", ",", " ,", ";")) -> st.SearchStrategy:
    return st.builds(lambda items, sep: sep.join(items), st.lists(parts, max_size=4), st.sampled_from(separators))


# Per header: values shaped like what its parser looks for (so they get past the first check), and any text.
BEARER_TOKEN = st.text(st.characters(codec="ascii"), max_size=60) | HEADER_TEXT
MEDIA_TYPES = st.sampled_from(["application/json", "*/*", "application/*", "text/html", "*", "/", "json", "a/b/c"])
MEDIA_PARAMS = st.builds(
    lambda name, value: f"; {name}={value}",
    st.sampled_from(["q", "indent", "charset", "version", "format", ""]),
    st.sampled_from(["0", "1", "0.5", "8", "-1", "9" * 400, "nan", "inf", "utf-8", "zlib", '"x"', ""]) | HEADER_TEXT,
)
CHARSETS = st.sampled_from(
    ["utf-8", "UTF-8", "utf-16", "latin-1", "ascii", "idna", "zlib", "bz2", "base64", "hex", "rot13", "uu", "quopri"]
    + ["utf-7", "unicode_escape", "raw_unicode_escape", "punycode", "undefined", "utf_8_sig", "mbcs", "x", ""]
)
IP_ADDRESSES = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]:443"),
    st.ip_addresses(v=6).map(lambda ip: f"{ip}%eth0"),
    st.ip_addresses(v=4).map(lambda ip: f"{ip}:8080"),
    st.sampled_from(["unknown", "::ffff:10.0.0.1", "fe80::1%25en0", "1.2.3", "999.1.1.1", "0", "::", "_hidden"]),
)
HEADERS = {
    "Authorization": (
        "HTTP_AUTHORIZATION",
        st.one_of(
            st.builds(
                lambda scheme, token: f"{scheme} {token}", st.sampled_from(["Bearer", "bearer", "BEARER"]), BEARER_TOKEN
            ),
            st.builds(lambda token: f"Bearer  {token} ", BEARER_TOKEN),
            st.sampled_from(["Bearer", "Bearer ", "Basic dTpw", "Token x", "Bearer a b", "Bearer a.b.c"]),
            HEADER_TEXT,
        ),
    ),
    "Accept": ("HTTP_ACCEPT", joined(st.builds(str.__add__, MEDIA_TYPES, MEDIA_PARAMS) | MEDIA_TYPES) | HEADER_TEXT),
    "Content-Type": (
        "CONTENT_TYPE",
        st.builds("application/json; charset={}".format, CHARSETS | HEADER_TEXT)
        | st.builds(str.__add__, MEDIA_TYPES, MEDIA_PARAMS)
        | HEADER_TEXT,
    ),
    "Content-Length": (
        "CONTENT_LENGTH",
        st.integers(-(2**70), 2**70).map(str)
        | st.sampled_from(["", " 12", "12 ", "+12", "1_2", "١٢", "1e3", "0x10", "12, 12", "9" * 5000])
        | HEADER_TEXT,
    ),
    "X-Forwarded-For": ("HTTP_X_FORWARDED_FOR", joined(IP_ADDRESSES | HEADER_TEXT, (", ", ",", " , "))),
    "X-Forwarded-Proto": (
        "HTTP_X_FORWARDED_PROTO",
        st.sampled_from(["https", "http", "HTTPS", "https, http", "http, https", " https", ""]) | HEADER_TEXT,
    ),
    "X-Request-ID": (
        "HTTP_X_REQUEST_ID",
        st.text("AZaz09._-", min_size=1, max_size=130) | st.sampled_from(["a" * 128, "a" * 129]) | HEADER_TEXT,
    ),
    "Host": (
        "HTTP_HOST",
        st.sampled_from(["testserver", "testserver:80", "testserver:", "TESTSERVER", "testserver.", "[::1]", ":80"])
        | st.builds("testserver:{}".format, HEADER_TEXT)
        | HEADER_TEXT,
    ),
    "Cookie": (
        "HTTP_COOKIE",
        st.builds("csrftoken={}".format, HEADER_TEXT)
        | st.builds("sessionid={}; a=b".format, HEADER_TEXT)
        | HEADER_TEXT,
    ),
}
ENDPOINTS = [
    ("GET", "/brands", "limit=2"),
    ("GET", "/campaigns", "limit=2&status=draft"),
    ("GET", "/brands/{brand}", ""),
    ("POST", "/brands", ""),
    ("GET", "/tools", ""),
    ("POST", "/tools/keywords", ""),
    ("GET", "/nowhere", ""),
]


class WSGIResponse:
    """What a WSGI server would send back: status, headers and body."""

    def __init__(self, status: str, headers: list[tuple[str, str]], content: bytes):
        self.status_code = int(status.split(" ", 1)[0])
        self.headers = {name.lower(): value for name, value in headers}
        self.content = content

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]


def call_wsgi(app, method: str, path: str, meta: dict, body: bytes) -> WSGIResponse:
    """One request through the project's real WSGI application, as gunicorn makes it (Django's test client builds
    its own request object, so it would miss what the application's handler does)."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        # The body as a socket gives it: a Content-Length longer than the body reads short, as at a closed connection.
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **meta,
    }
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=headers)

    chunks = app(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return WSGIResponse(started["status"], started["headers"], content)


@pytest.mark.parametrize("header", HEADERS)
def test_any_value_of_a_parsed_header_gets_a_json_answer_never_a_5xx(
    header,
    caller,
    enterprise_vendor,
    settings,
    wsgi_app,  # noqa: F811
):
    name, values = HEADERS[header]
    if header == "Authorization":
        values |= st.just(caller["HTTP_AUTHORIZATION"])
    settings.TRUSTED_PROXY_COUNT = 2  # X-Forwarded-For is read only behind proxies
    app = wsgi_app
    if header == "X-Forwarded-Proto":
        # As in production, where the header decides the HTTPS redirect; middleware reads settings when loaded.
        settings.SECURE_SSL_REDIRECT = True
        app = type(wsgi_app)()
    brand = Brand.objects.filter(vendor=enterprise_vendor.vendor).first()
    names = (f"Header brand {n}" for n in itertools.count())
    seen = set()

    @PROPERTY_SETTINGS
    @given(value=values, endpoint=st.sampled_from(ENDPOINTS))
    def check(value, endpoint):
        method, path, query = endpoint
        path = path.format(brand=brand.pk)
        meta = {**caller, "QUERY_STRING": query}
        body = b""
        if method == "POST":
            document = {"name": next(names)} if path == "/brands" else {"text": "Fresh coffee, roasted daily"}
            body = json.dumps(document).encode()
            meta.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
        meta[name] = value
        response = call_wsgi(app, method, path, meta, body)
        seen.add(response.status_code // 100)
        if response.status_code in (301, 302):
            assert header == "X-Forwarded-Proto" and response["Location"].startswith("https://"), response.headers
        assert_api_answer(response)

    check()
    # The properties must not hold merely because every request is refused.
    assert 2 in seen, seen


@pytest.mark.parametrize("charset", ["zlib", "bz2", "base64", "rot13"])
def test_a_charset_that_is_no_text_encoding_is_ignored_on_a_query_and_refused_on_a_body(
    charset,
    caller,
    wsgi_app,  # noqa: F811
):
    """Found by the header property above: Django decoded the query string through zlib, a LookupError before any
    middleware ran."""
    meta = {**caller, "CONTENT_TYPE": f"application/json; charset={charset}", "QUERY_STRING": "limit=1"}
    assert call_wsgi(wsgi_app, "GET", "/brands", meta, b"").status_code == 200
    body = b'{"name": "Zipped"}'
    response = call_wsgi(wsgi_app, "POST", "/brands", {**meta, "CONTENT_LENGTH": str(len(body))}, body)
    assert response.status_code == 400 and assert_api_answer(response)["error"] == "invalid_request"
    assert not Brand.objects.filter(name="Zipped").exists()
