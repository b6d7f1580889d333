"""Address allow-lists: a vendor may restrict the addresses its credentials and tokens are used from
(`Vendor.allowed_cidrs`, empty for any). Judged on /auth/token and /auth/refresh here, and by the gate on the APIs
(vendors/access/gate.py), on the address charp.http.client computes (REMOTE_ADDR, or X-Forwarded-For behind
TRUSTED_PROXY_COUNT proxies)."""

import ipaddress

from oauthlib.oauth2.rfc6749 import errors

CODE = "address_not_allowed"


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str:
    """What a caller refused for its address is told: the address seen, and who can add it."""
    if address is None:
        return (
            "This client accepts requests only from its allowed addresses, and the address of this request could not "
            "be read. Contact Charp support."
        )
    return (
        f"This client accepts requests only from its allowed addresses, and {address} is not one of them. Call "
        "from an allowed address, or ask Charp support to add this one to your client's allow-list."
    )


class AddressNotAllowed(errors.OAuth2Error):
    """403 in the RFC 6749 §5.2 shape: the client authenticated, but from an address outside its allow-list."""

    error = CODE
    status_code = 403

    def __init__(self, address, request=None):
        super().__init__(description=refusal(address), request=request)
