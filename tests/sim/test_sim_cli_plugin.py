"""``genesys-sim serve`` console command and the ``genesys_sim`` pytest fixture."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from genesys_sim import SimServer
from tests.sim.helpers import DAY, QUERY

BIN = Path(sys.executable).parent / "genesys-sim"


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("genesys-sim listening on http://127.0.0.1:"), line
    return proc, line.split()[-1]


def test_cli_serve_starts_answers_and_stops_on_sigterm():
    proc, url = _serve(
        "--seed",
        "5",
        "--conversations-per-day",
        "50",
        "--rate-limit",
        "7",
        "--fault",
        "status:on=2,status=504",
        "--now",
        "2024-05-08T00:00:00Z",
    )
    try:
        tok = requests.post(
            url + "/oauth/token",
            auth=("sim-client", "sim-secret"),
            data={"grant_type": "client_credentials"},
            timeout=5,
        ).json()
        auth = {"Authorization": f"Bearer {tok['access_token']}"}
        first = requests.post(url + QUERY, json={"interval": DAY}, headers=auth, timeout=5)
        assert first.status_code == 200 and first.headers["inin-ratelimit-allowed"] == "7"
        assert 30 < first.json()["totalHits"] < 80
        assert (
            requests.post(url + QUERY, json={"interval": DAY}, headers=auth, timeout=5).status_code
            == 504
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_cli_rejects_bad_settings_naming_them():
    bad = subprocess.run(
        [str(BIN), "serve", "--port", "0", "--fault", "explode"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2 and "fault kind" in bad.stderr
    remote = subprocess.run(
        [str(BIN), "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert remote.returncode == 2 and "host" in remote.stderr


def test_fixture_makes_started_servers_with_free_ports(genesys_sim):
    a, b = genesys_sim(), genesys_sim(seed=2)
    assert isinstance(a, SimServer) and a.port != b.port
    assert requests.get(a.base_url + "/_sim/health", timeout=5).json()["ok"]


def test_fixture_stops_every_server_at_teardown(tmp_path):
    test_file = tmp_path / "test_inner.py"
    url_file = tmp_path / "url.txt"
    test_file.write_text(
        textwrap.dedent(f"""
        def test_inner(genesys_sim):
            sims = [genesys_sim(), genesys_sim()]
            open({str(url_file)!r}, "w").write(" ".join(s.base_url for s in sims))
    """)
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for url in url_file.read_text().split():
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/_sim/health", timeout=2)


def test_stopping_with_an_open_keep_alive_connection_does_not_hang():
    sim = SimServer(port=0).start()
    session = requests.Session()
    assert session.get(sim.base_url + "/_sim/health", timeout=5).status_code == 200
    sim.stop()  # must return although the client keeps its connection open
    session.close()
