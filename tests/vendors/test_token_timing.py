"""An unknown client ID and a wrong secret at /auth/token look the same: same response, same queries, same time."""

import json
import statistics
import time

import pytest


@pytest.fixture
def unthrottled(settings):
    # The failure throttle would answer 429 long before 400 failures; it still counts every one of them.
    settings.AUTH_FAILURES_PER_IP = 10**6
    settings.AUTH_FAILURES_PER_CLIENT = 10**6


def post(client, client_id, secret):
    body = json.dumps({"client_id": client_id, "client_secret": secret})
    return client.post("/auth/token", body, content_type="application/json")


def comparable(response) -> tuple:
    headers = {key: value for key, value in response.items() if key != "X-Request-ID"}
    return response.status_code, response.content, headers


@pytest.mark.django_db
def test_unknown_client_and_wrong_secret_get_the_same_answer_with_the_same_queries(
    client, standard_vendor, unthrottled, django_assert_num_queries
):
    wrong_secret = "w" * 48
    unknown = "u" * 40  # a client ID of the real length and alphabet
    with django_assert_num_queries(1) as known_queries:
        known = post(client, standard_vendor.vendor.client_id, wrong_secret)
    with django_assert_num_queries(1) as unknown_queries:
        missing = post(client, unknown, wrong_secret)

    assert comparable(known) == comparable(missing)
    assert known.status_code == 401 and known.json()["error"] == "invalid_client"
    # The same statement, only the parameter differs.
    assert (
        known_queries.captured_queries[0]["sql"].replace(standard_vendor.vendor.client_id, unknown)
        == (unknown_queries.captured_queries[0]["sql"])
    )


@pytest.mark.django_db
def test_unknown_client_and_wrong_secret_take_the_same_time(client, standard_vendor, unthrottled):
    client_id = standard_vendor.vendor.client_id
    unknown = "u" * len(client_id)
    for _ in range(20):  # warm-up: caches, the decoy hash, connections
        post(client, client_id, "w" * 48)
        post(client, unknown, "w" * 48)
    times = {"known": [], "unknown": []}
    for round_ in range(200):
        # Interleaved, alternating which goes first, so drift in the machine's load hits both alike.
        order = [("known", client_id), ("unknown", unknown)]
        for label, presented in order if round_ % 2 else reversed(order):
            started = time.perf_counter()
            response = post(client, presented, f"wrong-{round_:04d}-" + "w" * 37)
            times[label].append(time.perf_counter() - started)
            assert response.status_code == 401

    known, missing = statistics.median(times["known"]), statistics.median(times["unknown"])
    bound = max(0.3 * max(known, missing), 0.002)
    print(f"median known {known * 1000:.3f} ms, unknown {missing * 1000:.3f} ms")
    assert abs(known - missing) <= bound, f"known {known * 1000:.2f} ms, unknown {missing * 1000:.2f} ms"
