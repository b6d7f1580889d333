"""Small helpers for calling the authorization server the ways real clients do."""

import base64
from urllib.parse import urlencode


def form(client, path: str, data: dict, basic: tuple[str, str] | None = None, **headers):
    """POST an application/x-www-form-urlencoded body, optionally with HTTP Basic client authentication."""
    if basic:
        encoded = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        headers["HTTP_AUTHORIZATION"] = f"Basic {encoded}"
    return client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded", **headers)


def as_json(client, path: str, body, **headers):
    """POST a JSON body exactly as the spec's curl examples do."""
    return client.post(path, body, content_type="application/json", **headers)


def credentials(issued) -> dict:
    return {"client_id": issued.vendor.client_id, "client_secret": issued.client_secret}
