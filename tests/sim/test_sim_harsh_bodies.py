"""Bodies a client must survive (docs/simulator.md "Faults"): ``trickle`` (one byte per
interval), ``oversize`` (a huge streamed 200) and ``echo_auth`` (token errors that echo the
client's credentials)."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
import requests

from genesys_sim import FaultRule
from tests.sim.helpers import DAY, QUERY, Client

MB = 1 << 20


@pytest.fixture
def sim(genesys_sim):
    return genesys_sim(rate_limit_per_minute=0)


@pytest.fixture
def client(sim):
    return Client(sim)


def _raw_query(sim, token: str, page_size: int = 100) -> socket.socket:
    body = json.dumps({"interval": DAY, "paging": {"pageSize": page_size}}).encode()
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=10)
    sock.sendall(
        b"POST " + QUERY.encode() + b" HTTP/1.1\r\nHost: sim\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _wait_for(check, seconds: float = 10.0) -> bool:
    """Poll ``check`` (bounded): the server side finishes asynchronously."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_trickle_sends_one_byte_per_interval_until_max_hang(sim, client):
    sim.configure(max_hang_s=0.3)
    sim.faults.add("trickle", trickle_interval_s=0.02)
    sock = _raw_query(sim, client.token)
    data = _read_until_closed(sock)  # the server closes the connection itself
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    length = int(
        next(
            h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
        )
    )
    assert 0 < len(body) < length, "the body stops incomplete"
    prefix = b'{"conversations":[{"conversationId":"'
    assert body.startswith(prefix) or prefix.startswith(body)
    assert _wait_for(lambda: sim.stats["streams"].get("trickle") == {"max_hang": 1})
    assert sim.stats["faults_injected"]["trickle"] == 1


def test_trickle_stops_when_the_client_disconnects(sim, client):
    sim.faults.add("trickle", trickle_interval_s=0.05)  # max_hang_s stays 30
    sock = _raw_query(sim, client.token)
    assert sock.recv(12).startswith(b"HTTP/1.1 200")
    sock.close()
    assert _wait_for(lambda: sim.stats["streams"].get("trickle") == {"client_closed": 1})


def test_trickle_of_a_small_body_completes_and_is_valid(sim):
    sim.faults.add("trickle", target="token", trickle_interval_s=0.001)
    resp = requests.post(
        sim.base_url + "/oauth/token",
        auth=("sim-client", "sim-secret"),
        data={"grant_type": "client_credentials"},
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["token_type"] == "bearer"
    assert _wait_for(lambda: sim.stats["streams"].get("trickle") == {"complete": 1})


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_body_is_valid_json_of_the_requested_size(sim, client, chunked):
    normal_ids = [
        c["conversationId"]
        for c in client.query(page_size=100, page_number=2).json()["conversations"]
    ]
    sim.faults.configure(FaultRule("oversize", size_mb=3, chunked=chunked))
    resp = client.query(page_size=100, page_number=2)
    assert resp.status_code == 200
    if chunked:
        assert "Content-Length" not in resp.headers
        assert resp.headers["Transfer-Encoding"] == "chunked"
    else:
        assert int(resp.headers["Content-Length"]) == len(resp.content)
    assert 3 * MB <= len(resp.content) < 3 * MB + 10_000
    body = resp.json()
    ids = [c["conversationId"] for c in body["conversations"]]
    assert ids[:100] == normal_ids and set(ids[100:]) == {normal_ids[0]}
    assert body["totalHits"] > 100
    assert _wait_for(lambda: sim.stats["streams"].get("oversize") == {"complete": 1})


def test_oversize_leaves_an_empty_page_alone_and_applies_to_multiget(sim, client):
    sim.faults.add("oversize", size_mb=1, target="api")
    empty = client.query(page_size=100, page_number=1000)
    assert empty.status_code == 200 and "conversations" not in empty.json()
    ids = sim.ground_truth_ids("2024-05-02", "2024-05-03")[:2]
    big = client.get("/api/v2/analytics/conversations/details", params={"id": ",".join(ids)})
    assert len(big.content) >= MB and big.json()["conversations"][1]["conversationId"] == ids[1]


def test_oversize_from_cli_spec():
    rule = FaultRule.parse("oversize:size_mb=50,chunked=true,target=jobs")
    assert (rule.size_mb, rule.chunked, rule.target) == (50.0, True, "jobs")
    assert FaultRule.parse("oversize:chunked=false").chunked is False
    with pytest.raises(ValueError, match="size_mb"):
        FaultRule("oversize", size_mb=0)


def _token(sim, client_id="sim-client", secret="sim-secret"):
    return requests.post(
        sim.base_url + "/oauth/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )


@pytest.mark.parametrize(("status", "error"), [(401, "invalid_client"), (400, "invalid_request")])
def test_echo_auth_oauth_error_echoes_the_credentials(sim, status, error):
    sim.faults.add("echo_auth", auth_status=status, on=(1,))
    resp = _token(sim, "my-client", "s3cr3t-value")
    assert resp.status_code == status
    body = resp.json()
    assert body["error"] == error
    text = body["description"]
    basic = "Basic " + base64.b64encode(b"my-client:s3cr3t-value").decode()
    assert basic in text and "my-client:s3cr3t-value" in text
    assert len(text) > 400
    assert "s3cr3t-value" in text[:200] and "s3cr3t-value" in text[400:], (
        "a client that cuts the text before redacting still leaks"
    )
    assert _token(sim).status_code == 200, "only the configured request"
    assert sim.stats["faults_injected"]["echo_auth"] == 1


def test_echo_auth_500_plain_text_body(sim):
    sim.faults.add("echo_auth", auth_status=500)
    resp = _token(sim, "my-client", "s3cr3t-value")
    assert resp.status_code == 500
    assert resp.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(ValueError):
        resp.json()
    assert "my-client:s3cr3t-value" in resp.text and len(resp.text) > 400


def test_echo_auth_echoes_form_credentials_and_is_token_only(sim, client):
    sim.faults.add("echo_auth")
    resp = requests.post(
        sim.base_url + "/oauth/token",
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": "form-id",
            "client_secret": "form-secret",
        },
    )
    assert "form-id:form-secret" in resp.json()["description"]
    assert client.query(page_size=1).status_code == 200
    assert FaultRule.parse("echo_auth:auth_status=500").target == "token"
    with pytest.raises(ValueError, match="target"):
        FaultRule("echo_auth", target="api")
    with pytest.raises(ValueError, match="auth_status"):
        FaultRule("echo_auth", auth_status=403)
    control = requests.post(
        sim.base_url + "/_sim/faults",
        timeout=5,
        json={"rules": [{"kind": "echo_auth", "auth_status": 400}]},
    )
    assert control.json()["rules"][0]["target"] == "token"
