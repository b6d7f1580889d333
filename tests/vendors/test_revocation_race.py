"""Revocation is final: revoke-all, suspension and a revoking rotation, run from the command line while threads keep
issuing and refreshing tokens against three gunicorn workers, leave no token issued before them alive.

PostgreSQL (real row locks) and Redis (the workers' caches are on only with it). Every token the threads obtained is
tried on /brands and on /auth/refresh after each action; one that still works must have been issued after the
action, which its row's creation time (the app's clock, written as the token was prepared) tells.
"""

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest

from tests.conftest import on_postgres, on_redis
from tests.ratelimit.test_live_gunicorn import Server, gunicorn, live_env, manage  # noqa: F401 - live_env: a fixture

pytestmark = [on_postgres, on_redis]

ISSUERS, REFRESHERS = 6, 3


@dataclass
class Harvest:
    """What the threads collected: (access token, refresh token) pairs, each with the time it was received."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: dict) -> None:
        with self.lock:
            self.pairs.append((body["access_token"], body["refresh_token"]))


def race_vendor(env: dict) -> dict:
    """A vendor on a plan with limits far above what the threads send: only revocation may refuse them."""
    code = f"race{uuid.uuid4().hex[:6]}"
    manage(
        env,
        "shell",
        "-c",
        "from vendors.models import Plan; "
        f"Plan.objects.create(code='{code}', name='Race', includes_campaigns=True, includes_tools=True, "
        "requests_per_minute=1000000, monthly_quota=None, tokens_per_hour=None)",
    )
    return json.loads(manage(env, "createvendor", f"Race {code}", "--plan", code, "--json"))


def issue_and_refresh(server: Server, credentials: dict, harvest: Harvest, stop: threading.Event) -> None:
    """Threads that keep asking for tokens with the vendor's (perhaps stolen) secret, and threads that keep a refresh
    chain going, starting a new one with the secret whenever the chain is refused."""

    def issuer():
        while not stop.is_set():
            reply = server.call("POST", "/auth/token", dict(credentials))
            if reply.status == 200:
                harvest.add(reply.body)

    def refresher():
        refresh = None
        while not stop.is_set():
            if refresh is None:
                reply = server.call("POST", "/auth/token", dict(credentials))
            else:
                reply = server.call("POST", "/auth/refresh", {"refresh_token": refresh})
            refresh = None
            if reply.status == 200:
                harvest.add(reply.body)
                refresh = reply.body["refresh_token"]

    threads = [threading.Thread(target=issuer) for _ in range(ISSUERS)]
    threads += [threading.Thread(target=refresher) for _ in range(REFRESHERS)]
    for thread in threads:
        thread.start()
    return threads


def revoked_at(env: dict, client_id: str) -> float:
    """When the last revoke-all of this vendor ran (its audit row, written after the revoking statements)."""
    out = manage(
        env,
        "shell",
        "-c",
        "from vendors.models import AuditEvent; "
        f"e = AuditEvent.objects.filter(vendor__application__client_id='{client_id}', action='revoke_tokens')"
        ".order_by('-created_at').first(); print(e.created_at.timestamp())",
    )
    return float(out.strip().splitlines()[-1])


def created_at(env: dict, tokens: list[str], model: str) -> dict[str, float]:
    """The creation time of each token's row, by token (checksum lookup, as the server does)."""
    checksums = {hashlib.sha256(token.encode()).hexdigest(): token for token in tokens}
    out = manage(
        env,
        "shell",
        "-c",
        f"import json; from oauth2_provider.models import {model}; "
        f"rows = {model}.objects.filter(token_checksum__in={list(checksums)!r})"
        ".values_list('token_checksum', 'created'); "
        "print(json.dumps({c: t.timestamp() for c, t in rows}))",
    )
    return {checksums[c]: t for c, t in json.loads(out.strip().splitlines()[-1]).items()}


def survivors(server: Server, env: dict, harvest: Harvest, since: float) -> dict[str, list[str]]:
    """The tokens issued before `since` that still work: access tokens on /brands, refresh tokens on /auth/refresh."""
    with harvest.lock:
        pairs = list(harvest.pairs)
    found = {}
    # Access tokens first: a successful refresh below deletes the access token it was issued with.
    working = [access for access, _ in pairs if server.call("GET", "/brands", token=access).status == 200]
    found["access"] = issued_before(env, working, "AccessToken", since)
    working = [
        refresh
        for _, refresh in pairs
        if server.call("POST", "/auth/refresh", {"refresh_token": refresh}).status == 200
    ]
    found["refresh"] = issued_before(env, working, "RefreshToken", since)
    return found


def issued_before(env: dict, tokens: list[str], model: str, since: float) -> list[str]:
    if not tokens:
        return []
    created = created_at(env, tokens, model)
    assert set(created) == set(tokens), "a token that works has a row"
    return [token for token in tokens if created[token] < since]


@pytest.fixture(scope="module")
def race_server(live_env, tmp_path_factory):  # noqa: F811 - the imported fixture
    with gunicorn(live_env, tmp_path_factory.mktemp("race")) as running:
        yield running


ACTIONS = {
    "revoke-all": lambda client_id: [("revoketokens", client_id)],
    "suspension": lambda client_id: [("suspendvendor", client_id)],
    "rotation": lambda client_id: [("rotatesecret", client_id, "--grace", "0", "--revoke-tokens", "--json")],
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_no_token_issued_before_a_revoking_action_survives_it(race_server, live_env, action):  # noqa: F811
    vendor = race_vendor(live_env)
    client_id = vendor["client_id"]
    credentials = {"client_id": client_id, "client_secret": vendor["client_secret"]}
    found = {"access": [], "refresh": []}
    issued = 0
    for _ in range(3):
        harvest, stop = Harvest(), threading.Event()
        threads = issue_and_refresh(race_server, credentials, harvest, stop)
        try:
            time.sleep(0.5)
            for command in ACTIONS[action](client_id):
                out = manage(live_env, *command)
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        if action == "suspension":
            manage(live_env, "reactivatevendor", client_id)  # reactivation revives nothing
        if action == "rotation":
            credentials["client_secret"] = json.loads(out)["client_secret"]
        issued += len(harvest.pairs)
        for kind, tokens in survivors(race_server, live_env, harvest, revoked_at(live_env, client_id)).items():
            found[kind] += tokens
    assert issued > 300, "the threads should have obtained many tokens around the actions"
    assert found == {"access": [], "refresh": []}, f"{len(found['access'])} + {len(found['refresh'])} of {issued}"
