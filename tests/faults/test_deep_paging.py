"""Scenario 6: a day with 120,000 matching conversations, extracted completely without a 400.

The API refuses ``pageNumber x pageSize > 100000``; the tap must split the window (by its
``totalHits``) before it asks for such a page. The tap's output is streamed and only ids are
kept (a record is ~4.5 KB; 120,000 of them are not held in memory as dicts).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import (
    ENV_PREFIX,
    TAP,
    SecretScan,
    catalog_file,
    query_statuses,
    tap_config,
)

pytestmark = pytest.mark.faults

HOT_DAY, NEXT_DAY = "2024-05-03T00:00:00Z", "2024-05-04T00:00:00Z"
HOT_VOLUME = 120_000


def test_a_120000_conversation_day_is_split_and_extracted_completely_without_a_400(
    fault_sim: Callable[..., Any], tmp_path: Path, secret_scan: SecretScan
) -> None:
    sim = fault_sim(
        conversations_per_day=50,
        data_start="2024-05-01T00:00:00Z",
        now="2024-05-05T00:00:00Z",
        hot_days={HOT_DAY[:10]: HOT_VOLUME},
        rate_limit_per_minute=0,
        latency_s=0.0,
    )
    secret_scan.sim = sim
    truth = sim.ground_truth_ids(HOT_DAY, NEXT_DAY)
    assert len(truth) > 100_000

    # max_page_depth 1000: this scenario is the 100,000-result cap, not shallow windows
    config = tap_config(
        sim,
        start_date=HOT_DAY,
        end_date=NEXT_DAY,
        page_size=100,
        max_concurrency=4,
        request_timeout=60,
        max_page_depth=1000,
    )
    (tmp_path / "config.json").write_text(json.dumps(config))
    stderr_path = tmp_path / "stderr.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    needles = [n.encode() for n in secret_scan.needles() if n]
    ids: Counter[str] = Counter()
    bookmarks: list[str] = []
    started = time.monotonic()
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [
                str(TAP),
                "--config",
                str(tmp_path / "config.json"),
                "--catalog",
                catalog_file(tmp_path),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=tmp_path,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            for needle in needles + [n.encode() for n in sim.issued_tokens]:
                assert needle not in line, "tap output holds a secret or token"
            message = json.loads(line)
            if message["type"] == "RECORD":
                ids[message["record"]["conversationId"]] += 1
            elif message["type"] == "STATE":
                bookmarks.append(
                    message["value"]["bookmarks"]["conversation_details"]["replication_key_value"]
                )
        code = proc.wait(timeout=600)
    seconds = time.monotonic() - started
    log = stderr_path.read_text()
    secret_scan.add("tap stderr", log)
    assert code == 0, log[-3000:]

    statuses = query_statuses(sim)
    assert "400" not in statuses, statuses
    assert sum(ids.values()) == len(ids), f"{sum(ids.values()) - len(ids)} duplicate records"
    assert len(ids) == len(truth) and set(ids) == set(truth)
    splits = [line for line in log.splitlines() if "split into" in line]
    assert splits, "the day was not split"
    assert bookmarks[-1] == "2024-05-04T00:00:00+00:00"
    print(
        f"deep paging: {len(ids)} conversations on one day = ground truth, 0 duplicates, "
        f"{sum(statuses.values())} requests, 0 x 400, {len(splits)} split(s), "
        f"{len(bookmarks)} STATE; {seconds:.1f} s ({len(ids) / seconds:.0f} records/s)"
    )
