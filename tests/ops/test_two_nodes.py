"""Two app nodes: two independent gunicorns (two workers each) on one PostgreSQL and one Redis, as two hosts behind
a load balancer would be, and optionally HAProxy in front of them (round-robin, a private config and port).

A vendor's allowance is counted once across the nodes, and a revocation, a suspension or a plan change made on one
node or from the command line bites on both at the next request. PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).
"""

import json
import shutil
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from itertools import cycle

import pytest

from tests.conftest import on_postgres, on_redis
from tests.ratelimit.test_live_gunicorn import (  # noqa: F401 - live_env: a fixture
    Reply,
    Server,
    create_vendor,
    free_port,
    gunicorn,
    live_env,
    manage,
)

pytestmark = [on_postgres, on_redis]

HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")


@pytest.fixture(scope="module")
def nodes(live_env, tmp_path_factory):  # noqa: F811 - the imported fixture
    with ExitStack() as stack:
        yield [stack.enter_context(gunicorn(live_env, tmp_path_factory.mktemp(f"node{n}"), workers=2)) for n in (1, 2)]


@pytest.fixture(scope="module")
def balancer(nodes, tmp_path_factory):
    """HAProxy on a port of its own, round-robin over the two nodes; skips the test without haproxy."""
    if HAPROXY is None:
        pytest.skip("needs haproxy")
    home = tmp_path_factory.mktemp("haproxy")
    port = free_port()
    servers = "".join(f"  server node{n} 127.0.0.1:{node.port}\n" for n, node in enumerate(nodes, 1))
    (home / "haproxy.cfg").write_text(
        "global\n  maxconn 256\n"
        "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
        f"frontend api\n  bind 127.0.0.1:{port}\n  default_backend nodes\n"
        f"backend nodes\n  balance roundrobin\n{servers}"
    )
    log = home / "haproxy.log"
    with log.open("w") as out:
        process = subprocess.Popen([HAPROXY, "-db", "-f", str(home / "haproxy.cfg")], stdout=out, stderr=out)  # noqa: S603
    proxy = Server(port, log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if proxy.call("GET", "/healthz").status == 200:
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield proxy
    finally:
        process.terminate()
        process.wait(timeout=10)


def served(node: Server) -> int:
    """How many requests the node has answered (its gunicorn access lines)."""
    return sum(1 for line in node.log.read_text().splitlines() if '"gunicorn.access"' in line)


def alternate(targets: list[Server], token: str, count: int, path: str = "/brands") -> list[tuple[int, Reply]]:
    """`count` concurrent requests, the n-th to targets[n % len(targets)]; (target index, reply) each."""
    plan = [(index, targets[index]) for index, _ in zip(cycle(range(len(targets))), range(count), strict=False)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda job: (job[0], job[1].call("GET", path, token=token)), plan))


def statuses(replies) -> Counter:
    return Counter(reply.status for _, reply in replies)


def test_a_free_vendor_gets_sixty_requests_across_both_nodes_not_sixty_each(nodes, live_env):  # noqa: F811
    vendor = create_vendor(live_env, "free")
    replies = alternate(nodes, nodes[0].token(vendor), 80)
    assert statuses(replies) == {200: 60, 429: 20}
    assert {index for index, reply in replies if reply.status == 200} == {0, 1}, "both nodes served some"
    # One counter for both nodes: every remaining count from 59 down to 0 was handed out exactly once.
    assert sorted(r.policies()["minute"]["r"] for _, r in replies if r.status == 200) == list(range(60))
    assert all(r.body["error"] == "rate_limited" for _, r in replies if r.status == 429)


def test_through_haproxy_the_allowance_is_counted_once(nodes, balancer, live_env):  # noqa: F811
    before = [served(node) for node in nodes]
    vendor = create_vendor(live_env, "free")
    replies = alternate([balancer], balancer.token(vendor), 70)
    assert statuses(replies) == {200: 60, 429: 10}
    after = [served(node) for node in nodes]
    assert all(now - then >= 30 for now, then in zip(after, before, strict=True)), (before, after)


def warm(nodes: list[Server], token: str) -> None:
    """Every worker of both nodes reads the token (and keeps its copy): a later refusal is not a cache miss."""
    assert statuses(alternate(nodes, token, 16)) == {200: 16}


def test_a_token_revoked_on_one_node_is_refused_by_both(nodes, live_env):  # noqa: F811
    vendor = create_vendor(live_env, "standard")
    token, other = nodes[0].token(vendor), nodes[1].token(vendor)
    warm(nodes, token)
    credentials = {"client_id": vendor["client_id"], "client_secret": vendor["client_secret"]}
    assert nodes[0].call("POST", "/auth/revoke", {"token": token, **credentials}).status == 200
    assert statuses(alternate(nodes, token, 16)) == {401: 16}
    assert statuses(alternate(nodes, other, 16)) == {200: 16}


@pytest.mark.parametrize(
    "action",
    [("revoketokens",), ("suspendvendor",), ("rotatesecret", "--grace", "0", "--revoke-tokens")],
    ids=["revoke-all", "suspension", "revoking rotation"],
)
def test_a_revoking_action_bites_on_both_nodes_at_once(nodes, live_env, action):  # noqa: F811
    vendor = create_vendor(live_env, "standard")
    tokens = [nodes[0].token(vendor), nodes[1].token(vendor)]
    for token in tokens:
        warm(nodes, token)
    command, *arguments = action
    manage(live_env, command, vendor["client_id"], *arguments)
    for token in tokens:
        replies = alternate(nodes, token, 16)
        assert statuses(replies) == {401: 16}
        assert {reply.body["error"] for _, reply in replies} == {"invalid_token"}


def test_a_plan_change_bites_on_both_nodes_at_once(nodes, live_env):  # noqa: F811
    vendor = create_vendor(live_env, "standard")
    token = nodes[0].token(vendor)
    assert statuses(alternate(nodes, token, 16, "/campaigns")) == {200: 16}
    manage(live_env, "setplan", vendor["client_id"], "free")
    downgraded = alternate(nodes, token, 16, "/campaigns")
    assert statuses(downgraded) == {403: 16}
    assert all(r.headers["ratelimit-policy"].startswith('"minute";q=60;w=60') for _, r in downgraded)
    manage(live_env, "setplan", vendor["client_id"], "standard")
    upgraded = alternate(nodes, token, 16, "/campaigns")
    assert statuses(upgraded) == {200: 16}
    assert all(r.headers["ratelimit-policy"].startswith('"minute";q=600;w=60') for _, r in upgraded)


def test_metering_across_both_nodes_equals_the_requests_served(nodes, live_env):  # noqa: F811
    vendor = create_vendor(live_env, "free")
    token = nodes[1].token(vendor)
    replies = alternate(nodes, token, 75) + alternate(nodes, token, 4, "/brands/999999")
    assert statuses(replies) == {200: 60, 429: 19}
    manage(live_env, "flushusage")
    usage = json.loads(manage(live_env, "usage", vendor["client_id"], "--days", "1", "--json", "--no-flush"))
    assert usage["total"] == 60
    assert usage["days"][0]["throttled"] == 19
