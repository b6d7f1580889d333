"""Deploy checks of Charp's own settings (`manage.py check --deploy`)."""

import redis
from django.conf import settings
from django.core import checks
from redis.backoff import NoBackoff
from redis.retry import Retry


@checks.register(checks.Tags.security, deploy=True)
def keys_set_explicitly(app_configs, **kwargs):
    """Warn when the client-secret pepper or the JWT signing keys are derived from SECRET_KEY (charp/settings.py)."""
    return [
        checks.Warning(
            f"{name} is derived from SECRET_KEY.",
            hint=f"Set {name} explicitly: rotating SECRET_KEY would otherwise invalidate "
            + ("every vendor's client secret." if name == "CLIENT_SECRET_PEPPER" else "every access token."),
            id="charp.W001" if name == "CLIENT_SECRET_PEPPER" else "charp.W002",
        )
        for name in getattr(settings, "KEYS_DERIVED_FROM_SECRET_KEY", [])
    ]


@checks.register(checks.Tags.caches, deploy=True)
def redis_never_evicts(app_configs, **kwargs):
    """Warn when REDIS_URL's server may evict keys: it holds counters, not only a cache (vendors/limits/store.py).

    The rate-limit windows, monthly quotas, issuance and failure counters all carry a TTL, so a `volatile-*` policy
    would evict exactly them; only `noeviction` keeps them. Silent when Redis does not answer: /readyz reports that.
    """
    if not settings.REDIS_URL:
        return []
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return []
    except redis.ResponseError as exc:  # CONFIG disabled or renamed, as on many managed services
        return [_unverified(f"CONFIG GET was refused ({exc})")]
    finally:
        client.close()
    if policy is None:
        return [_unverified("CONFIG GET did not return it")]
    if policy == "noeviction":
        return []
    return [
        checks.Warning(
            f"Redis at REDIS_URL has maxmemory-policy {policy}: it may evict keys when it is full.",
            hint="Set maxmemory-policy noeviction (redis.conf, or CONFIG SET and CONFIG REWRITE): " + _WHY_NOEVICTION,
            id="charp.W003",
        )
    ]


def _unverified(reason: str) -> checks.Warning:
    return checks.Warning(
        f"Could not verify Redis' maxmemory-policy: {reason}.",
        hint="Make sure the Redis at REDIS_URL has maxmemory-policy noeviction: " + _WHY_NOEVICTION,
        id="charp.W004",
    )


_WHY_NOEVICTION = (
    "the rate-limit, quota, metering and token-issuance counters and the failure budgets must never be evicted, "
    "or vendors get more than their plan allows and usage goes unbilled (volatile-* policies are no better: every "
    "counter but the pending usage carries a TTL). When full, noeviction refuses writes and the limits fail open."
)
