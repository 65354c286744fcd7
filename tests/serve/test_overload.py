"""Serve under pressure, over real HTTP: excess map requests get 503 with Retry-After, a stuck one 504,
and a killed alignment actor comes back.

A second application (``/tight``, one map request in flight, a short timeout) runs beside the
package's one on the same proxy. A request is held in the ingress by a client that sends its
headers and only part of its body (the ingress takes its place before reading the body).
"""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from cryoray.sample import haemoglobin
from cryoray.serve import ServeConfig
from tests.support.data import REAL_MAPS, real
from tests.support.serving import LIMITS, Served

MAP = real(REAL_MAPS["8249-negstart"])  # 24³ voxels of 5.28 Å
TIMEOUT_S = 15.0
RETRY_AFTER_S = 7


@pytest.fixture(scope="module")
def tight(served) -> Iterator[Served]:
    """The enhance model behind an ingress that takes one map request at a time and times out after 15 s."""
    from ray import serve

    from cryoray.serve.app import build_app

    config = ServeConfig.model_validate(
        {
            "name": "tight",
            "port": served.config.port,
            "models": {"enhance": served.config.models["enhance"]},
            "limits": LIMITS
            | {"max_requests_in_flight": 1, "request_timeout_s": TIMEOUT_S, "retry_after_s": RETRY_AFTER_S},
            "infer": {"device": "cpu", "voxel_size": 4.0},
            "deployments": {"ingress_num_cpus": 0.05, "model_num_cpus": 0.1},
        }
    )
    serve.run(build_app(config), name="tight", route_prefix="/tight", blocking=False)  # returns once running
    try:
        yield Served(served.url + "/tight", config)
    finally:
        serve.delete("tight")


def _start_partial_post(url: str, path: str, body: bytes, sent: int) -> http.client.HTTPConnection:
    """A POST of ``body`` whose first ``sent`` bytes only are sent: it holds a place until the rest follows."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    conn.putrequest("POST", parts.path + path)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body[:sent])
    return conn


def _wait_in_flight(app: Served, count: int) -> dict:
    deadline = time.monotonic() + 60
    while True:
        health = app.get("/health").json()
        if health["in_flight"]["now"] == count:
            return health
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def test_excess_map_requests_get_503_with_retry_after_at_once(tight) -> None:
    body = MAP.read_bytes()
    before = tight.get("/health").json()["requests"]
    held = _start_partial_post(tight.url, "/enhance?model=enhance", body, 1024)
    try:
        _wait_in_flight(tight, 1)
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            excess = list(pool.map(lambda _: tight.post("/enhance?model=enhance", data=body), range(4)))
        refused_within = time.monotonic() - started
        held.send(body[1024:])
        answer = held.getresponse()
        assert answer.status == 200, answer.read()[:300]
    finally:
        held.close()
    assert [r.status_code for r in excess] == [503] * 4
    assert all(r.headers["Retry-After"] == str(RETRY_AFTER_S) for r in excess)
    assert all("busy" in r.json()["error"] for r in excess)
    assert refused_within < TIMEOUT_S  # refused at once, not after the held request
    after = tight.get("/health").json()
    assert after["requests"]["refused"] - before["refused"] == 4
    assert after["in_flight"] == {"now": 0, "peak": 1, "limit": 1}
    assert tight.post("/enhance?model=enhance", data=body).status_code == 200  # the place is free again


def test_a_stuck_request_gets_504_after_the_timeout(tight) -> None:
    body = MAP.read_bytes()
    before = tight.get("/health").json()["requests"]["timed_out"]
    started = time.monotonic()
    stuck = _start_partial_post(tight.url, "/enhance?model=enhance", body, 1024)  # the rest never comes
    try:
        answer = stuck.getresponse()
        waited = time.monotonic() - started
        payload = answer.read()
    finally:
        stuck.close()
    assert answer.status == 504, payload[:300]
    assert b"request timeout of 15 s" in payload
    assert TIMEOUT_S <= waited < TIMEOUT_S + 25  # the ingress's timeout, not the proxy's backstop
    health = tight.get("/health").json()
    assert health["requests"]["timed_out"] == before + 1 and health["in_flight"]["now"] == 0


def test_the_model_listing_states_the_voxel_limits_of_the_budget(tight) -> None:
    limits = tight.config.limits
    info = tight.get("/models").json()
    assert info["limits"]["memory_budget_mb"] == limits.memory_budget_mb
    assert info["models"]["enhance"]["max_map_voxels"]["enhance"] == limits.voxel_limit(1)


def _find_actor(name: str):
    import ray
    from ray.util import list_named_actors

    namespaces = {a["namespace"] for a in list_named_actors(all_namespaces=True) if a["name"] == name}
    assert len(namespaces) == 1, (name, namespaces)
    return ray.get_actor(name, namespace=namespaces.pop())


def test_a_killed_alignment_actor_is_restarted(served) -> None:
    import ray

    sample = haemoglobin()
    body = {"map": base64.b64encode(sample.map.read_bytes()).decode(), "sequence": sample.sequence.read_text()}
    assert served.post("/build?model=c2s2", json=body).status_code == 200  # the pool exists from here on
    actor = _find_actor(f"{served.config.name}-align-0")
    pid = ray.get(actor.ping.remote())
    ray.kill(actor, no_restart=False)  # as if its process had died
    response = served.post("/build?model=c2s2", json=body)
    assert response.status_code == 200, response.text
    assert ray.get(actor.ping.remote()) != pid
