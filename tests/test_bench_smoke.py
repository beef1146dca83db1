"""The benchmark runner prints every figure (smoke run on tiny sizes; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def test_bench_runner_prints_every_figure_on_tiny_sizes(tmp_path: Path) -> None:
    results, png = tmp_path / "results.json", tmp_path / "chart.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--preset",
            "tiny",
            "--json",
            str(results),
            "--chart",
            str(png),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # ~40 s alone; several times that beside the rest of the suite
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for figure in (
        "machine:",
        "CPUs",
        "Python",
        "P1 CPU",
        "tap (CLI process)",
        "bare loop",
        "records/s",
        "CPU",
        "tap/bare records/s",
        "P2 wall",
        "floor",
        "x floor",
        "tutorial loop: measured",
        "extrapolated",
        "faster",
        "429s received by the tap",
        "max_concurrency",
        "P2 wall, slow pages",
        "latency 1.5 s/page",
        "P3 memory",
        "peak RSS",
        "MB",
        "P7 every stream",
        "API requests served",
        "details alone:",
        "P4 requests per 1,000 records",
    ):
        assert figure in out, f"{figure!r} missing from:\n{out}"
    assert "same records: True" in out
    figures = json.loads(results.read_text())
    assert figures["p1"]["tap"]["records"] == figures["p1"]["bare"]["records"] > 0
    assert figures["p2"]["runs"][0]["tap"]["pages"] >= 1
    assert figures["p3"]["large"]["records"] > figures["p3"]["small"]["records"]
    p7 = figures["p7"]["all"]
    assert figures["p7"]["streams"] == 16 and p7["tap"]["records"] > 0
    alone = figures["p7"]["details_only"]
    assert set(alone["requests_by_path"]) == {"/api/v2/analytics/conversations/details/query"}
    # every stream family spent requests of the run: details, status history, reference lists
    paths = set(p7["requests_by_path"])
    assert {
        "/api/v2/analytics/conversations/details/query",
        "/api/v2/analytics/users/details/query",
        "/api/v2/users",
    } <= paths, paths
    assert p7["requests"] == sum(p7["requests_by_path"].values()) > len(paths)
    assert png.stat().st_size > 10_000
