"""`make demo`'s script: a verified load into DuckDB, then an incremental rerun."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.e2e.meltano import PROJECT_ROOT, base_env

pytestmark = pytest.mark.e2e

DEMO = PROJECT_ROOT / "scripts" / "demo.py"


def run_demo(workdir: Path) -> str:
    proc = subprocess.run(
        # a third of the demo's default volume: the same checks, a third of the load time
        [sys.executable, str(DEMO), "--dir", str(workdir), "--per-day", "100"],
        cwd=PROJECT_ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def loaded_rows(workdir: Path) -> tuple[int, int]:
    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT count(*), count(DISTINCT conversationid) FROM genesys.conversation_details"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_demo_loads_the_simulators_conversations_then_reruns_incrementally(
    meltano_plugins: None, tmp_path: Path
) -> None:
    first = run_demo(tmp_path)
    check = re.search(r"Row check OK: (\d+) rows .* == (\d+) conversations", first)
    assert check and check.group(1) == check.group(2), first
    assert loaded_rows(tmp_path) == (int(check.group(1)), int(check.group(1)))
    assert "First run: full extraction" in first
    for heading in (
        "Rows per table:",
        "per media type",
        "Top wrap-up codes, by name",
        "Handle time by queue name",
        "JOIN genesys.routing_queues",
        "Agent occupancy",
    ):
        assert heading in first
    wrapups = first.split("Top wrap-up codes, by name")[1].split("Handle time")[0]
    names = [line.rsplit(None, 1)[0].strip() for line in wrapups.splitlines()[1:] if line.strip()]
    assert names and not any(re.fullmatch(r"[0-9a-f-]{36}", n) for n in names), names

    second = run_demo(tmp_path)
    assert "Incremental run: saved bookmark 2024-05-08T00:00:00" in second, second
    assert re.search(r"Bookmark: 2024-05-08T00:00:00\S* -> 2024-05-09T00:00:00", second), second
    check_2 = re.search(r"Row check OK: (\d+) rows .* == (\d+) conversations", second)
    assert check_2 and check_2.group(1) == check_2.group(2), second
    read = re.search(r"This run read (\d+) conversations: (\d+) new, (\d+) updated", second)
    assert read, second
    total_1, total_2 = int(check.group(1)), int(check_2.group(1))
    assert int(read.group(2)) == total_2 - total_1 > 0
    assert int(read.group(1)) < total_2  # incremental: not everything again
    assert loaded_rows(tmp_path) == (total_2, total_2)
