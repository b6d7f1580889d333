"""Who is calling: the client's address as this deployment's proxies report it."""

import ipaddress

from django.conf import settings


def _reported(request) -> str:
    """REMOTE_ADDR, or the X-Forwarded-For entry added by the outermost of TRUSTED_PROXY_COUNT proxies (entries
    further left are client-supplied and can be forged)."""
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    return address


def client_address(request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The caller's exact address (an IPv4-mapped IPv6 address as IPv4), None when it is not an IP address.

    Worked out once per request and kept on it: the token endpoint, its failure budget, the request log and the
    access log each ask (2 µs each time)."""
    try:
        return request._client_address
    except AttributeError:
        pass
    try:
        ip = ipaddress.ip_address(_reported(request))
    except ValueError:
        ip = None
    if ip is not None and ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    request._client_address = ip
    return ip


def client_ip(request) -> str:
    """The caller's address as a key for counters: `client_address`, with IPv6 callers keyed by their /64, which one
    host usually controls whole."""
    ip = client_address(request)
    if ip is None:
        return _reported(request)[:64] or "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
