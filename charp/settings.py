"""Charp settings: one file, read from the environment (12-factor), see README.md for every variable."""

import hashlib
import hmac
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# A development checkout's .env (written by `make run`, git-ignored) is read when present, so that manage.py works
# there as the README shows; a variable set in the real environment always wins over the file. CHARP_ENV_FILE names
# another file, or "" for none (the test suite reads none). Production has no .env: nothing changes there.
ENV_FILE = os.environ.get("CHARP_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)

# --- Mode -------------------------------------------------------------------------------------------------------
# Development conveniences (SQLite, a fixed dev key) apply only when DEBUG is explicitly on.
DEBUG = env.bool("DEBUG", default=False)


def _required_secret(name: str, dev_default: str) -> str:
    """Read a secret setting; outside DEBUG there is no default and start-up stops without it."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off (see README.md, 'Configuration').")


def _derived_key(purpose: str) -> str:
    """A key for one purpose derived from SECRET_KEY (where a dedicated setting exists, used only in its absence)."""
    return hmac.new(SECRET_KEY.encode(), f"charp:{purpose}".encode(), hashlib.sha256).hexdigest()


def _non_negative_int(name: str, default: int, minimum: int = 0) -> int:
    value = env.int(name, default=default)
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be an integer of at least {minimum}.")
    return value


SECRET_KEY = _required_secret("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])

# --- Applications -----------------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Before oauth2_provider: Django runs the first app's command of a name, and vendors' `cleartokens` reports
    # what it deleted where django-oauth-toolkit's says nothing.
    "vendors",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apiresources",
]

MIDDLEWARE = [
    # First, so that every response (redirects and errors included) carries X-Request-ID and is logged with its time.
    "charp.http.logs.RequestLogMiddleware",
    # Each request of a known vendor into this worker's request log, written with the usage flush (no query here).
    "vendors.limits.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "charp.http.security.ContentSecurityPolicyMiddleware",
    "charp.http.errors.BodySizeLimitMiddleware",
    # A database outage inside a view is a JSON 503 with Retry-After, never a 500 (see charp/http/errors.py).
    "charp.http.errors.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # OPTIONS and undeclared methods on API paths, answered in its process_view: listed before CsrfViewMiddleware, so
    # before CSRF, the gate or a view (charp/http/methods.py).
    "charp.http.methods.MethodMiddleware",
    # Sessions, the staff user and messages serve the staff portal only (/admin/): skipped for the API.
    "charp.http.staff_only.StaffSessionMiddleware",
    # Django's, without a Content-Length on a 1xx, 204 or 304 (charp/http/common.py).
    "charp.http.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "charp.http.staff_only.StaffAuthenticationMiddleware",
    "charp.http.staff_only.StaffMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "vendors.limits.middleware.RateLimitMiddleware",
]

ROOT_URLCONF = "charp.urls"
WSGI_APPLICATION = "charp.wsgi.application"
# Paths work with and without a trailing slash, with no redirect: a redirected POST loses its body.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections with a health check: a restarted database is reconnected to without restarting workers.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that polls the socket instead of a SELECT 1 per request.
    DATABASES["default"]["ENGINE"] = "charp.postgresql"
    # An unreachable (not refusing) database fails fast into a JSON 503 instead of hanging past gunicorn's timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", 5))
    # Parameters bound by the server, and each statement prepared on its connection once it has run 5 times
    # (psycopg's default threshold): the joined token reads plan in 0.7 ms and run in 0.04, so a warm worker's refresh
    # lookup falls from about 1.5 ms to 0.25 (README.md, "Prepared statements" under Performance). Django leaves both
    # off by default.
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
# A pooler between the app and PostgreSQL ("transaction": PgBouncer's pool_mode = transaction) hands each transaction
# to whichever server connection is free, so nothing may outlive one. Server-side cursors would (QuerySet.iterator()
# declares a WITH HOLD cursor, then FETCHes from a server that may no longer be this client's: "cursor ... does not
# exist"), so they are off. psycopg's prepared statements would too (PgBouncer before 1.21 does not track them);
# Django leaves them off unless OPTIONS asks, and this pins them off even then.
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "transaction"):
    raise ImproperlyConfigured('DATABASE_POOLER must be "transaction" or empty (see README.md, "Behind PgBouncer").')
if DATABASE_POOLER == "transaction":
    if DATABASES["default"]["ENGINE"] != "charp.postgresql":
        raise ImproperlyConfigured("DATABASE_POOLER=transaction needs a PostgreSQL DATABASE_URL.")
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
else:
    # One process only: production needs REDIS_URL so that counters are shared across workers.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Security ---------------------------------------------------------------------------------------------------
MIN_KEY_BYTES = 32


def _keys(name: str, *, many: bool) -> list[str] | None:
    """A key setting's entries, trimmed (comma-separated when `many`); None when the variable is unset.

    Set but blank, a blank entry, or (outside DEBUG) an entry shorter than MIN_KEY_BYTES stops start-up: a stray
    space or comma must not silently change a key, which would invalidate every secret or token it protects."""
    raw = os.environ.get(name)  # not env.str(), which takes an empty value for an unset one
    if raw is None:
        return None
    entries = [entry.strip() for entry in raw.split(",")] if many else [raw.strip()]
    if not all(entries):
        raise ImproperlyConfigured(
            f"{name} has a blank {'entry' if many else 'value'}: give "
            + ("comma-separated keys, the signing key first" if many else "the key")
            + ", or unset it to derive one from SECRET_KEY."
        )
    if not DEBUG and any(len(entry.encode()) < MIN_KEY_BYTES for entry in entries):
        raise ImproperlyConfigured(
            f"{name}: every key must be at least {MIN_KEY_BYTES} bytes (for example `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`)."
        )
    return entries


# Client secrets are machine-generated with 256 bits of entropy, so a slow password hash buys nothing and lets
# anyone holding one client ID burn CPU; a peppered HMAC-SHA256 is the right cost (docs/design.md, decision 5).
_pepper = _keys("CLIENT_SECRET_PEPPER", many=False)
CLIENT_SECRET_PEPPER = _pepper[0] if _pepper else _derived_key("client-secret-pepper")
# HS256 signing keys for access tokens; the first signs, all verify, so keys can be rotated.
_signing_keys = _keys("JWT_SIGNING_KEYS", many=True)
JWT_SIGNING_KEYS = _signing_keys or [_derived_key("jwt-signing-key")]
# Which of the two came from SECRET_KEY: a deploy check warns (vendors/checks.py), since rotating SECRET_KEY would
# then invalidate every client secret or every access token.
KEYS_DERIVED_FROM_SECRET_KEY = [
    name for name, given in (("CLIENT_SECRET_PEPPER", _pepper), ("JWT_SIGNING_KEYS", _signing_keys)) if not given
]
JWT_ISSUER = env.str("JWT_ISSUER", default="https://api.charp.ai")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="https://api.charp.ai")

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "vendors.oauth.hashers.ClientSecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
# Staff sessions last a working day at most, not Django's two weeks, counted from the sign-in however active.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
# ... and end sooner when left alone: a session unused for this many seconds is signed out (charp/http/sessions.py).
STAFF_SESSION_IDLE_SECONDS = _non_negative_int("STAFF_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
# The database keeps a keyed hash of each session key, never the key itself: a dump of django_session opens nothing.
SESSION_ENGINE = "charp.http.sessions"
# The key of that hash, for this purpose only. Not a setting of its own: sessions are short-lived, so rotating
# SECRET_KEY merely signs staff out.
SESSION_KEY_HASH_KEY = _derived_key("session-key-hash")
# Load balancers probe the health endpoints over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
# On HTML pages (the staff portal, the docs): everything from this origin, no inline scripts (charp/security.py).
# Inline styles stay allowed: the admin's style attributes and Redoc's generated styles need them.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"
# Bodies of the API are small JSON documents; anything larger is refused before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)

# --- OAuth 2.0 (django-oauth-toolkit) ---------------------------------------------------------------------------
ACCESS_TOKEN_LIFETIME = env.int("ACCESS_TOKEN_LIFETIME", default=3600)
REFRESH_TOKEN_LIFETIME = env.int("REFRESH_TOKEN_LIFETIME", default=30 * 24 * 3600)

OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_LIFETIME,
    # DOT measures this from the access token's expiry; every refresh rotates, so it is "30 days of disuse".
    "REFRESH_TOKEN_EXPIRE_SECONDS": REFRESH_TOKEN_LIFETIME,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    # Charp serves no authorization endpoint: implicit, password and code grants, PKCE and redirect URIs do not
    # apply; the compliant values keep it so should one ever be routed (and keep `check --deploy` clean).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "CLIENT_SECRET_HASHER": "client_hmac_sha256",
    "CLIENT_SECRET_GENERATOR_LENGTH": 48,
    "ACCESS_TOKEN_GENERATOR": "vendors.oauth.tokens.generate_access_token",
    "REFRESH_TOKEN_GENERATOR": "vendors.oauth.tokens.generate_refresh_token",
    "OAUTH2_SERVER_CLASS": "vendors.oauth.server.Server",
    "OAUTH2_VALIDATOR_CLASS": "vendors.oauth.server.Validator",
    "OAUTH2_BACKEND_CLASS": "vendors.oauth.server.Backend",
    "SCOPES_BACKEND_CLASS": "vendors.oauth.server.PlanScopes",
    "SCOPES": {"brands": "Brands API", "campaigns": "Campaigns API", "tools": "Tools API"},
    # Never DOT's default "__all__": it would grant introspection to every token.
    "DEFAULT_SCOPES": ["brands", "campaigns", "tools"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["client_credentials", "refresh_token"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": [],
    "PKCE_REQUIRED": True,
    "CLEAR_EXPIRED_TOKENS_BATCH_SIZE": 10000,
    "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL": 0.05,
}

# --- REST framework ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Resource views are let in by their gate (vendors/access/gate.py); any other DRF view is closed by default.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["charp.http.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "charp.http.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "charp.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

# How long the first response to a request with an `Idempotency-Key` is kept and replayed to its retries
# (apiresources/idempotency.py); `manage.py prune` deletes the keys past it.
IDEMPOTENCY_KEY_HOURS = _non_negative_int("IDEMPOTENCY_KEY_HOURS", 24, minimum=1)

# --- Rate limits, quotas and usage metering ---------------------------------------------------------------------
# Counters live in Redis (REDIS_URL), shared by every worker and host; without it they are per process (dev only).


# Off switch for incidents; plan limits, quotas and the /auth/* failure throttle all stop when false.
RATELIMIT_ENABLED = env.bool("RATELIMIT_ENABLED", default=True)
RATELIMIT_KEY_PREFIX = env.str("RATELIMIT_KEY_PREFIX", default="charp:rl:")
# Seconds between flushes of usage counts to the database by whichever worker notices one is due; 0 turns them
# off (then run `manage.py flushusage` from cron).
USAGE_FLUSH_INTERVAL = _non_negative_int("USAGE_FLUSH_INTERVAL", 60)
# Failed client authentications at /auth/* allowed per AUTH_FAILURE_WINDOW seconds from one address, and for one
# client ID from one address; beyond them, 429 until the oldest failure ages out.
AUTH_FAILURE_WINDOW = _non_negative_int("AUTH_FAILURE_WINDOW", 600, minimum=1)
AUTH_FAILURES_PER_IP = _non_negative_int("AUTH_FAILURES_PER_IP", 30, minimum=1)
AUTH_FAILURES_PER_CLIENT = _non_negative_int("AUTH_FAILURES_PER_CLIENT", 10, minimum=1)
# Reverse proxies in front of the app that append to X-Forwarded-For; 0 means REMOTE_ADDR is the caller.
TRUSTED_PROXY_COUNT = _non_negative_int("TRUSTED_PROXY_COUNT", 0)
# Staff password guessing at the admin login: failures per (username, address) and per address within the window;
# beyond either, the login refuses that address until the oldest failure ages out (vendors/admin/login.py). Never
# per username alone, which would let anyone lock a staff member out everywhere.
if "ADMIN_LOGIN_FAILURES_PER_USER" in env:
    # It counted per username from any address; a deployment still setting it must not believe it still applies.
    raise ImproperlyConfigured(
        "ADMIN_LOGIN_FAILURES_PER_USER is gone: set ADMIN_LOGIN_FAILURES_PER_USER_AND_IP (failures per username per "
        "address) instead (see README.md, 'Configuration')."
    )
ADMIN_LOGIN_FAILURE_WINDOW = _non_negative_int("ADMIN_LOGIN_FAILURE_WINDOW", 900, minimum=1)
ADMIN_LOGIN_FAILURES_PER_USER_AND_IP = _non_negative_int("ADMIN_LOGIN_FAILURES_PER_USER_AND_IP", 5, minimum=1)
ADMIN_LOGIN_FAILURES_PER_IP = _non_negative_int("ADMIN_LOGIN_FAILURES_PER_IP", 20, minimum=1)
# Each worker keeps access tokens, clients and GET pages it has read, checked on every request against versions in
# the rate-limit store (vendors/caching/); these bound how long one copy lives even so. 0 turns a cache off. Off by
# default without REDIS_URL: versions kept in one process cannot tell the other workers about a revocation.
AUTH_CACHE_SECONDS = _non_negative_int("AUTH_CACHE_SECONDS", 30 if REDIS_URL else 0)
READ_CACHE_SECONDS = _non_negative_int("READ_CACHE_SECONDS", 30 if REDIS_URL else 0)

# --- Request log -------------------------------------------------------------------------------------------------
# Each vendor's recent API and /auth/* requests, for staff (the vendor's "Request log" page). Each worker keeps up to
# REQUEST_LOG_BUFFER entries in memory and writes them with the usage flush, or once half that many wait
# (vendors/limits/request_log.py); beyond it, entries are dropped and counted (charp_request_log_dropped_total).
# 0 turns the log off.
REQUEST_LOG_BUFFER = _non_negative_int("REQUEST_LOG_BUFFER", 10000)
# Days of entries the page shows and `manage.py prune` keeps.
REQUEST_LOG_DAYS = _non_negative_int("REQUEST_LOG_DAYS", 7, minimum=1)

# --- Retention ---------------------------------------------------------------------------------------------------
# `manage.py prune` deletes audit events and usage days older than these many days, RETENTION_BATCH_SIZE rows per
# transaction so that no purge holds its locks for long.
AUDIT_RETENTION_DAYS = _non_negative_int("AUDIT_RETENTION_DAYS", 400, minimum=1)
USAGE_RETENTION_DAYS = _non_negative_int("USAGE_RETENTION_DAYS", 800, minimum=1)
RETENTION_BATCH_SIZE = _non_negative_int("RETENTION_BATCH_SIZE", 5000, minimum=1)

# --- Metrics ----------------------------------------------------------------------------------------------------
# /metrics (Prometheus) is served only when this is set, to `Authorization: Bearer <METRICS_TOKEN>`; unset, the path
# is an unknown one (404). Under gunicorn the workers' values are added up through PROMETHEUS_MULTIPROC_DIR
# (gunicorn.conf.py). Set but blank, or outside DEBUG shorter than MIN_KEY_BYTES, stops start-up.
_metrics_token = env.str("METRICS_TOKEN", default=None)
METRICS_TOKEN = (_metrics_token or "").strip()
if _metrics_token is not None and (not METRICS_TOKEN or (not DEBUG and len(METRICS_TOKEN.encode()) < MIN_KEY_BYTES)):
    raise ImproperlyConfigured(
        f"METRICS_TOKEN must be at least {MIN_KEY_BYTES} bytes (for example `python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))'`), or unset to turn /metrics off."
    )

# --- Internationalisation, static files -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- API schema and docs (drf-spectacular) ---------------------------------------------------------------------
SPECTACULAR_SETTINGS = {
    "TITLE": "Charp API",
    "VERSION": "1.0.0",
    "CONTACT": {"name": "Charp support"},  # the staff who run this install; the errors say when to contact them
    "DESCRIPTION": (BASE_DIR / "charp" / "api_description.md").read_text(encoding="utf-8"),
    # The server of a document generated offline (`manage.py spectacular`); /api/schema names the host serving it
    # instead (charp.openapi.add_authorization_server), so that /docs/try calls the install it is read on.
    "SERVERS": [{"url": env.str("PUBLIC_API_URL", default=JWT_AUDIENCE)}],
    # Public: a vendor's developer reads the docs before having a token; a stale token must not hide them.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "apiresources.models.Campaign.Status",
        "CampaignObjectiveEnum": "apiresources.models.Campaign.Objective",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "charp.openapi.add_authorization_server",
    ],
}

# --- Logging ----------------------------------------------------------------------------------------------------
# One JSON object per line (LOG_FORMAT=json, the default) or plain lines for local development (LOG_FORMAT=plain).
# Every handler redacts secrets, tokens and Authorization values (charp/http/logs.py); the access log never logs bodies.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'plain'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "charp.http.logs.RedactingFilter"},
        "request": {"()": "charp.http.logs.RequestContextFilter"},
        "client_errors": {"()": "charp.http.logs.ClientErrorFilter"},
    },
    "formatters": {
        "json": {"()": "charp.http.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact", "request"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # oauthlib logs token values at DEBUG: never let it speak below WARNING.
        "oauthlib": {"level": "WARNING"},
        "oauth2_provider": {"level": "WARNING"},
        # Replace Django's own handlers (plain text, DEBUG-only console) so that django.request and django.server
        # lines go through the same formatter and redaction as everything else.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # One line per request: a 4xx is in the access line already, so django.request's "Unauthorized: /brands"
        # warnings go; its 5xx errors, with the traceback, stay.
        "django.request": {"filters": ["client_errors"]},
    },
}
