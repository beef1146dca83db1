"""P5 backfill (``auto`` = jobs for history vs ``query``) and P6 busy day (shallow windows vs
cap-only split), against the simulator with depth-growing page latency.

``python -m bench.backfill [--preset full|quick]`` prints the figures and ratios; not a test.
P5: ``days`` x ``per_day`` conversations, ``rate`` requests/minute on the simulator and the
tap, page latency ``latency_s`` + ``per_page_s`` x (pageNumber - 1), job latency on the wall
clock (simulator defaults: 2 s queued, 10 s + 1 s per 1,000 results running, status polls do
not end it). Both record variants (the query's, and the job results' with participant
attributes) are pre-rendered into a record cache sized to hold them. The days after the range
(the query tail) hold no conversations. P6: one day of ``busy_day`` conversations through the
query path, ``max_page_depth`` 50 vs none (the 100,000-result cap only).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench import procs
from bench.procs import Simulator, TapRun, tap_config

DATA_START = date(2024, 1, 1)


@dataclass(frozen=True)
class Sizes:
    days: int
    per_day: int
    rate: int
    busy_day: int


PRESETS = {
    "full": Sizes(90, 10_000, 300, 150_000),
    "quick": Sizes(14, 2_000, 60, 30_000),
    "medium": Sizes(30, 10_000, 300, 60_000),
}
LATENCY_S, PER_PAGE_S = 0.1, 0.05
#: record-cache bytes per conversation and variant (about 4.5 KB of JSON plus bookkeeping)
RECORD_CACHE_BYTES = 5_000


def cache_mb(conversations: int, variants: int) -> int:
    """``--cache-mb`` that holds every warmed record: the record cache is 3/4 of it."""
    return max(1024, conversations * variants * RECORD_CACHE_BYTES * 4 // 3 >> 20)


def run_tap(config: dict[str, Any]) -> TapRun:
    """The tap CLI with ``conversation_details`` alone selected (``procs.run_tap``)."""
    return procs.run_tap(config, timeout_s=7200)


def _sim(days: dict[date, int], now: date, variants: int) -> Simulator:
    hot = [f"--hot-day={day}={count}" for day, count in days.items()]
    return Simulator(
        [
            "--cache-mb",
            str(cache_mb(sum(days.values()), variants)),
            "--now",
            f"{now}T12:00:00Z",
            "--data-start",
            f"{DATA_START}T00:00:00Z",
            "--conversations-per-day",
            "0",
            "--job-clock",
            "wall",
            "--job-polls-queued",
            "0",
            "--job-polls-pending",
            "0",
            *hot,
        ]
    )


def p5(sizes: Sizes) -> dict[str, Any]:
    days = {DATA_START + timedelta(days=d): sizes.per_day for d in range(sizes.days)}
    now = DATA_START + timedelta(days=sizes.days + 2)
    sim = _sim(days, now, variants=2)
    start, end = f"{DATA_START}T00:00:00Z", f"{now}T00:00:00Z"
    out: dict[str, Any] = {"range": [start, end]}
    try:
        sim.configure(latency_s=0, rate_limit_per_minute=0)
        # both variants pre-rendered: what the query serves, and the job results (with
        # participant attributes), so neither path pays the simulator's rendering
        sim.warm(start, end)
        sim.warm(start, end, attributes=True)
        for mode in ("auto", "query"):
            sim.configure(
                latency_s=LATENCY_S,
                latency_per_page_s=PER_PAGE_S,
                rate_limit_per_minute=sizes.rate,
                rate_limit_window_s=60,
            )
            sim.reset_stats()
            tap = run_tap(
                tap_config(sim, start, end, extraction_mode=mode, requests_per_minute=sizes.rate)
            )
            stats = sim.stats()
            requests = sum(
                sum(v.values()) for k, v in stats["requests"].items() if "/conversations/" in k
            )
            out[mode] = {
                "wall_s": tap.wall_s,
                "records": tap.records,
                "requests": requests,
                "requests_per_1000": 1000 * requests / max(tap.records, 1),
                "by_endpoint": {
                    k: v for k, v in stats["requests"].items() if "/conversations/" in k
                },
            }
    finally:
        sim.stop()
    auto, query = out["auto"], out["query"]
    out["wall_ratio"] = auto["wall_s"] / query["wall_s"]
    out["requests_ratio"] = query["requests_per_1000"] / auto["requests_per_1000"]
    out["same_records"] = auto["records"] == query["records"]
    return out


def p6(sizes: Sizes) -> dict[str, Any]:
    day = DATA_START
    sim = _sim({day: sizes.busy_day}, day + timedelta(days=3), variants=1)
    start, end = f"{day}T00:00:00Z", f"{day + timedelta(days=1)}T00:00:00Z"
    out: dict[str, Any] = {"range": [start, end], "conversations": sizes.busy_day}
    try:
        sim.configure(latency_s=0, rate_limit_per_minute=0)
        sim.warm(start, end)
        for name, depth in (("shallow", 50), ("cap_only", 1000)):
            sim.configure(
                latency_s=LATENCY_S,
                latency_per_page_s=PER_PAGE_S,
                rate_limit_per_minute=300,
                rate_limit_window_s=60,
            )
            tap = run_tap(
                tap_config(
                    sim,
                    start,
                    end,
                    extraction_mode="query",
                    max_page_depth=depth,
                    requests_per_minute=300,
                )
            )
            out[name] = {
                "max_page_depth": depth,
                "wall_s": tap.wall_s,
                "records": tap.records,
                "requests": tap.requests,
            }
    finally:
        sim.stop()
    out["wall_ratio"] = out["shallow"]["wall_s"] / out["cap_only"]["wall_s"]
    return out


def report(results: dict[str, Any]) -> str:
    lines = [
        f"sizes: {results['preset']} {results['sizes']}; page latency {LATENCY_S} s + "
        f"{PER_PAGE_S} s x (page - 1)"
    ]
    if r := results.get("p5"):
        lines.append(f"P5 backfill {r['range'][0]} .. {r['range'][1]}")
        for mode in ("auto", "query"):
            m = r[mode]
            lines.append(
                f"  {mode:5}: {m['wall_s']:7.1f} s, {m['records']:,} records, "
                f"{m['requests']} requests = {m['requests_per_1000']:.2f} per 1,000"
            )
        lines.append(
            f"  auto/query wall = {r['wall_ratio']:.3f}x (target <= 0.3: "
            f"{'MET' if r['wall_ratio'] <= 0.3 else 'MISSED'}); requests per 1,000 "
            f"{r['requests_ratio']:.1f}x fewer (target >= 3: "
            f"{'MET' if r['requests_ratio'] >= 3 else 'MISSED'}); same records: "
            f"{r['same_records']}"
        )
    if r := results.get("p6"):
        lines.append(f"P6 busy day {r['conversations']:,} conversations, query path")
        for name in ("shallow", "cap_only"):
            m = r[name]
            lines.append(
                f"  {name:8} (max_page_depth {m['max_page_depth']}): {m['wall_s']:7.1f} "
                f"s, {m['records']:,} records, {m['requests']} requests"
            )
        lines.append(f"  shallow/cap-only wall = {r['wall_ratio']:.3f}x")
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    """Wall time and requests per 1,000 records: P5 auto vs query, P6 shallow vs cap-only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    if p5r := results.get("p5"):
        modes = ["auto", "query"]
        axes[0].bar(modes, [p5r[m]["wall_s"] for m in modes], color=["tab:green", "tab:gray"])
        axes[0].set_title(f"P5 backfill wall time (auto/query {p5r['wall_ratio']:.2f}x)")
        axes[0].set_ylabel("seconds")
        axes[1].bar(
            modes, [p5r[m]["requests_per_1000"] for m in modes], color=["tab:green", "tab:gray"]
        )
        axes[1].set_title(f"P5 requests per 1,000 records ({p5r['requests_ratio']:.1f}x fewer)")
    if p6r := results.get("p6"):
        names = ["shallow", "cap_only"]
        axes[2].bar(
            ["max_page_depth 50", "cap only"],
            [p6r[n]["wall_s"] for n in names],
            color=["tab:green", "tab:gray"],
        )
        axes[2].set_title(f"P6 busy day wall time ({p6r['wall_ratio']:.2f}x)")
        axes[2].set_ylabel("seconds")
    else:
        axes[2].set_visible(False)
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"preset {results['preset']}: {results['sizes']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--only", default="p5,p6")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--chart", type=Path, help="write the P5/P6 chart (PNG) here")
    args = parser.parse_args(argv)
    sizes = PRESETS[args.preset]
    parts = {p.strip() for p in args.only.split(",")}
    results: dict[str, Any] = {"preset": args.preset, "sizes": asdict(sizes)}
    if "p6" in parts:
        results["p6"] = p6(sizes)
        print(report({**results, "p5": None}), flush=True)
    if "p5" in parts:
        results["p5"] = p5(sizes)
    print(report(results), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.chart:
        chart(results, args.chart)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
