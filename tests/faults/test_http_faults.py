"""Scenarios 2-5: 429 storms, server errors, token loss and empty pages, through the tap's CLI.

The tap runs as Meltano runs it (a subprocess with a config file; real backoff timings), the
simulator in-process so its counters are the referee. Every line of stdout (RECORD, STATE)
and stderr (logs, errors) goes through the secret scan.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import (
    QUERY_PATH,
    SecretScan,
    query_statuses,
    run_tap_cli,
    tap_config,
    token_requests,
)

pytestmark = pytest.mark.faults

START, END = "2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z"
DAY_ENDS = ["2024-05-02T00:00:00+00:00", "2024-05-03T00:00:00+00:00", "2024-05-04T00:00:00+00:00"]


def assert_complete(run: Any, sim: Any, end: str = END) -> None:
    """Exit 0, every conversation once with the API's content, STATE per window."""
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records == sim.ground_truth(START, end)
    assert run.bookmarks == [b for b in DAY_ENDS if b[:10] <= end[:10]][-len(run.bookmarks) :]


# -- 2: 429 storm --------------------------------------------------------------------------------


@pytest.mark.parametrize(("concurrency", "end"), [(4, END), (1, "2024-05-03T00:00:00Z")])
def test_429_storm_completes_and_sleeps_what_retry_after_asked(
    sim: Any, tmp_path: Path, secret_scan: SecretScan, concurrency: int, end: str
) -> None:
    """30 % of queries answered 429 + Retry-After: 1.

    Per request: each request that got a 429 waits its own Retry-After before its retry
    (``slept_for_429_s``, measured around the wait) — compared with the sum of the Retry-After
    values received (``retry_after_total_s``) and with what the simulator sent. With several
    workers, 429s received at the same time overlap: every worker pauses until the latest
    Retry-After has passed, so the wall-clock paused time is less than the sum; with one worker
    the wall clock pays the sum in full.
    """
    sim.faults.configure({"kind": "rate_limit", "rate": 0.3, "retry_after": 1}, seed=5)
    run = run_tap_cli(
        tap_config(sim, max_concurrency=concurrency, end_date=end), tmp_path, scan=secret_scan
    )
    assert_complete(run, sim, end)
    metrics = run.http_metrics()
    stats = sim.stats
    sent = stats["retry_after_sent"]
    assert stats["rate_limited"] == metrics["responses_429"] == len(sent) > 5
    assert query_statuses(sim)["429"] / sum(query_statuses(sim).values()) > 0.2
    assert metrics["retry_after_total_s"] == sum(sent)
    slept = metrics["slept_for_429_s"]
    assert abs(slept - sum(sent)) <= 0.1 * sum(sent), (slept, sum(sent))
    if concurrency == 1:  # the simulator's own clock: gap from each 429 to the next request
        queries = sorted(
            (t, status) for path, t, status in sim.watch.answered if path == QUERY_PATH
        )
        gaps = [later[0] - t for (t, status), later in itertools.pairwise(queries) if status == 429]
        assert len(gaps) == len(sent)
        assert all(ra <= gap <= ra + 0.2 for gap, ra in zip(gaps, sent, strict=True)), (gaps, sent)
        assert abs(sum(gaps) - sum(sent)) <= 0.1 * sum(sent)
        print(
            f"429 storm, seen by the simulator: {sum(gaps):.2f} s between each 429 and the "
            f"next request, Retry-After sent {sum(sent)} s"
        )
    print(
        f"429 storm, concurrency {concurrency}: {len(sent)} x 429 of "
        f"{int(metrics['requests_sent'])} requests; Retry-After received {sum(sent)} s, "
        f"slept {slept:.2f} s ({100 * (slept / sum(sent) - 1):+.1f} %); run {run.seconds:.1f} s"
    )


# -- 3: server errors -------------------------------------------------------------------------


def test_server_errors_resets_hangs_and_bad_bodies_are_all_recovered(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim.faults.configure(
        *(
            {"kind": "status", "status": s, "on": [2 + 4 * i]}  # each status at least once
            for i, s in enumerate((500, 502, 503, 504, 408))
        ),
        *({"kind": "status", "status": s, "rate": 0.04} for s in (500, 502, 503, 504, 408)),
        {"kind": "reset", "rate": 0.04},
        {"kind": "hang", "on": [3], "hang_s": 3},
        {"kind": "truncated", "on": [6, 20]},
        {"kind": "html", "on": [9, 25]},
        seed=7,
    )
    run = run_tap_cli(
        tap_config(sim, request_timeout=1, max_retries=10), tmp_path, scan=secret_scan
    )
    assert_complete(run, sim)
    statuses = query_statuses(sim)
    injected = sim.stats["faults_injected"]
    for status in ("500", "502", "503", "504", "408"):
        assert statuses.get(status, 0) >= 1, statuses
    assert injected.get("reset", 0) >= 1 and injected.get("hang") == 1, injected
    bad_bodies = injected.get("truncated", 0) + injected.get("html", 0)  # 200 + unreadable
    assert injected.get("truncated", 0) >= 1 and injected.get("html", 0) >= 1, injected
    metrics = run.http_metrics()
    failures = sum(n for s, n in statuses.items() if s != "200") + bad_bodies
    assert metrics["retries"] == failures
    assert len(run.log_lines("retry ")) == failures
    print(
        f"server errors: {failures} failed responses of {int(metrics['requests_sent'])} "
        f"requests ({statuses}, faults {injected}) all retried; "
        f"backoff slept {metrics['backoff_slept_s']:.1f} s; run {run.seconds:.1f} s"
    )


def test_a_fault_beyond_the_retry_limit_exits_with_one_line_and_state_stays_behind(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim.faults.configure({"kind": "status", "status": 503, "on": list(range(18, 200))})
    run = run_tap_cli(tap_config(sim, max_concurrency=1, max_retries=2), tmp_path, scan=secret_scan)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    found = re.search(
        r"window (\S+)/\S+ page (\d+): giving up after 3 tries; last error: "
        r"HTTP 503",
        last,
    )
    assert found, last  # the last line: retries still in flight stop without another word
    assert "Traceback" not in run.stderr
    assert run.seconds < 15
    # page 4 of window 2 (a window now ends on an empty page: one more request per window
    # shifts which page request 18 is)
    assert found.group(1).startswith("2024-05-02") and found.group(2) == "4"
    assert run.bookmarks == DAY_ENDS[:1]  # only the window fully emitted before the failure
    assert {r["conversationId"] for r in run.records} >= set(
        sim.ground_truth_ids(START, "2024-05-02T00:00:00Z")
    )
    print(f"persistent 503: exit {run.returncode}; {last}")


def test_a_failed_run_stops_requests_still_backing_off_instead_of_waiting_them_out(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    """One page fails for good while another sleeps on a 503 ``Retry-After: 30``: exit at once.

    One window: page 1 is request 1; pages 2, 3, ... are then in flight together, so which page
    arrives as request 3 (the 503) and which fails for good depends on scheduling: the check
    takes them from the log instead of assuming the order they were sent in.
    """
    sim.faults.configure(
        {"kind": "status", "status": 503, "retry_after": 30, "on": [3]},
        {"kind": "status", "status": 502, "on": list(range(2, 400))},
    )
    config = tap_config(sim, max_retries=1, end_date="2024-05-02T00:00:00Z")
    run = run_tap_cli(config, tmp_path, scan=secret_scan)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    failed = re.search(r"window 2024-05-01\S+ page (\d+): giving up after 2 tries", last)
    assert failed, last
    backing_off = [
        line for line in run.stderr.splitlines() if re.search(r"page \d+: HTTP 503", line)
    ]
    assert len(backing_off) == 1, run.stderr[-3000:]  # the 30 s wait began, was never retried
    waiting_page = re.search(r"page (\d+): HTTP 503", backing_off[0])
    assert waiting_page and waiting_page.group(1) != failed.group(1), run.stderr[-3000:]
    assert run.seconds < 15, f"the run lingered {run.seconds:.1f} s after its error"
    print(
        f"failed run with a 30 s backoff pending: exit {run.returncode} after {run.seconds:.1f} s"
    )


def test_close_ends_a_429_pause_at_once(sim: Any) -> None:
    """A request waiting out ``Retry-After: 30`` in the rate budget gives up when the run stops."""
    from tap_genesys_analytics.auth import TokenProvider
    from tap_genesys_analytics.client import GenesysClient
    from tap_genesys_analytics.errors import GenesysAPIError, StoppedError
    from tap_genesys_analytics.http import make_session
    from tap_genesys_analytics.settings import validate_settings

    sim.faults.configure({"kind": "rate_limit", "retry_after": 30, "on": [1]})
    settings = validate_settings(tap_config(sim))
    session = make_session(2)
    tokens = TokenProvider(
        settings.login_url,
        settings.client_id,
        settings.client_secret,
        session,
        settings.request_timeout,
    )
    client = GenesysClient(settings, tokens, session=session)
    body = {
        "interval": "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z",
        "paging": {"pageSize": 10, "pageNumber": 1},
    }
    outcome: list[BaseException] = []

    def query() -> None:
        try:
            client.post_query(body, what="window w page 1")
        except (GenesysAPIError, StoppedError) as exc:
            outcome.append(exc)

    worker = threading.Thread(target=query)
    worker.start()
    assert sim.watch.when(QUERY_PATH, 1).wait(10)
    time.sleep(0.3)
    stopped = time.monotonic()
    client.close()
    worker.join(5)
    assert not worker.is_alive(), "still paused after close()"
    assert time.monotonic() - stopped < 1.0
    assert [str(e) for e in outcome] == ["window w page 1: not sent, the run is stopping"]
    assert sim.watch.queries() == 1


# -- 4: token loss --------------------------------------------------------------------------------


def test_revoked_token_costs_exactly_one_reauthentication(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim.faults.configure({"kind": "revoke", "on": [12]})
    run = run_tap_cli(tap_config(sim), tmp_path, scan=secret_scan)
    assert_complete(run, sim)
    assert token_requests(sim) == 2 == len(sim.issued_tokens)
    metrics = run.http_metrics()
    assert 1 <= metrics["token_refreshes"] <= 4  # each in-flight 401 refreshes its own try
    assert query_statuses(sim)["401"] == metrics["token_refreshes"]
    print(
        f"revoked token: {token_requests(sim)} token requests, "
        f"{query_statuses(sim)['401']} x 401 in flight, run {run.seconds:.1f} s"
    )


def test_rejected_credentials_are_one_clear_error_and_one_token_request(
    fault_sim: Callable[..., Any], tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim = fault_sim(
        conversations_per_day=10,
        data_start=START,
        now=END,
        clients={"fault-client": "another-secret"},
    )
    secret_scan.sim = sim
    run = run_tap_cli(tap_config(sim), tmp_path, scan=secret_scan)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-genesys-analytics: authentication error: credentials rejected")
    assert "invalid_client" in last
    assert token_requests(sim) == 1
    assert QUERY_PATH not in sim.stats["requests"]
    print(f"rejected credentials: {token_requests(sim)} token request; {last}")


# -- 5: empty pages ------------------------------------------------------------------------------


def test_transient_empty_pages_are_retried_logged_and_lose_nothing(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim.faults.configure({"kind": "empty_page", "on": [4, 17, 30]})
    run = run_tap_cli(tap_config(sim), tmp_path, scan=secret_scan)
    assert_complete(run, sim)
    lines = run.log_lines("empty although totalHits=")
    assert len(lines) == 3, run.stderr[-3000:]
    assert all(
        re.search(r"window \S+ page \d+: .*asking again in [\d.]+ s \(retry 1/3\)", line)
        for line in lines
    )
    print(
        f"transient empty pages: 3 retried, all {len(run.records)} records; run {run.seconds:.1f} s"
    )


def test_persistently_empty_page_gives_up_after_bounded_retries_and_says_so(
    sim: Any, tmp_path: Path, secret_scan: SecretScan
) -> None:
    """Every page after page 1 stays empty: no hang, bounded retries, the pages after it are
    still read once, a warning names window and page, and the bookmark stays at the window.

    totalHits is approximate, so empty pages where more were announced may be the true end when
    no later page holds records: the run succeeds, and the held bookmark makes the next run read
    the window again (a gap followed by records fails the run: tests/test_trust.py).
    """
    sim.faults.configure({"kind": "empty_page", "on": list(range(2, 200))})
    run = run_tap_cli(tap_config(sim, end_date="2024-05-02T00:00:00Z"), tmp_path, scan=secret_scan)
    assert run.returncode == 0, run.stderr[-3000:]
    warning = run.log_lines("page 2: empty (3 retries)")
    assert len(warning) == 1, run.stderr[-3000:]
    assert re.search(
        r"window 2024-05-01\S+ page 2: empty \(3 retries\) although totalHits "
        r"announced 128 records",
        warning[0],
    ), warning[0]
    assert len(run.log_lines("empty although totalHits=")) == 3  # retries of page 2 only
    assert run.bookmarks[-1] == "2024-05-01T00:00:00+00:00"  # held for a re-read
    assert run.seconds < 60
    print(
        f"persistent empty page: gave up after 3 retries in {run.seconds:.1f} s; "
        f"{warning[0].split('tap_genesys_analytics.window_reader', 1)[-1].strip()}"
    )
