"""The benchmark suite: one run prints every figure and ratio (``python -m bench``, ``make bench``).

P1 CPU      no latency, no limit: tap records/s (CPU seconds) vs the bare loop, same pages.
P2 wall     400 ms page latency, 300 requests/minute on the simulator and the tap's budget:
            tap time vs the rate-limit floor (pages / limit) and vs the tutorial loop (measured
            on a subset of the same pages, extrapolated linearly); again at 1.5 s latency.
P3 memory   tap peak RSS over a large range vs a small one.
P4 requests tap requests per 1,000 records; 429s received under P2.
P7 streams  every stream selected (conversations, their child tables, agent status history,
            reference tables), 0.4 s latency, 300/min: wall time vs the floor of the
            requests the simulator served (all API requests, token excluded).

The simulator runs in its own process, the tap as its real CLI in a child process (stdout to
/dev/null), the baselines in this process. Not a test: figures, ratios and targets only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench import backfill
from bench.baselines import LoopResult, bare_loop, fetch_token, tutorial_loop
from bench.procs import CLIENT_ID, CLIENT_SECRET, Simulator, TapRun, run_tap, tap_config
from tap_genesys_analytics.streams import STREAM_NAMES
from tap_genesys_analytics.windows import plan_windows

DATA_START = date(2024, 5, 1)
SIM_NOW = "2024-08-01T00:00:00Z"
RATE_LIMIT = 300
TAP_UNLIMITED_RPM = 10_000  # the setting's maximum: pacing 6 ms apart, far above what is served
#: P1-P4 measure the details query with windows split only at the 100,000-result cap, as
#: before: their old ranges would go through async jobs in ``auto``, and their flat page latency
#: leaves shallow windows (max_page_depth) nothing to win, only overlap pages to pay. P5/P6 in
#: bench/backfill.py measure those two.
QUERY_PATH = {"extraction_mode": "query", "max_page_depth": 1000}

TARGETS = {
    "p1_ratio": (">=", 1.0),
    "p2_floor_ratio": ("<=", 1.10),
    "p2_speedup": (">=", 4.0),
    "p3_ratio": ("<=", 1.2),
    "p4_requests_per_1000": ("<=", 10.5),
    "p7_floor_ratio": ("<=", 1.10),
}


@dataclass(frozen=True)
class Sizes:
    """How much data each part reads (full = the issue's sizes)."""

    per_day: int  # conversations per simulated day (10,050 = 100 full pages + one of 50)
    p1_days: int
    p1_rounds: int  # P1 takes the best of this many runs of each side
    p2_days: int
    p2_tutorial_pages: int
    p2_slow_days: int
    p2_slow_tutorial_pages: int
    p2_slow_concurrency: tuple[int, ...]
    p3_small_days: int
    p3_large_days: int
    p7_days: int  # every stream selected over these days


PRESETS = {
    "full": Sizes(10_050, 5, 3, 10, 60, 3, 30, (4, 8), 1, 20, 5),
    "quick": Sizes(2_050, 2, 1, 2, 10, 1, 5, (8,), 1, 5, 1),
    "tiny": Sizes(250, 1, 1, 1, 2, 1, 1, (4,), 1, 2, 1),
}


def day_range(first: int, days: int) -> tuple[str, str]:
    """ISO ``[start, end)`` of ``days`` days from DATA_START + ``first``."""
    start = datetime.combine(DATA_START + timedelta(days=first), datetime.min.time(), timezone.utc)
    return start.isoformat(), (start + timedelta(days=days)).isoformat()


def intervals(start: str, end: str) -> list[str]:
    """The API intervals the tap queries for ``[start, end)`` (its own window plan)."""
    begin, finish = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return [w.interval for w in plan_windows(begin, finish, timedelta(days=1))]


def in_process_cpu(run: Any) -> tuple[Any, float]:
    """Run ``run()`` here; returns its result and the CPU seconds this process spent."""
    before = time.process_time()
    result = run()
    return result, time.process_time() - before


# -- parts ------------------------------------------------------------------------------------


def p1_cpu(sim: Simulator, sizes: Sizes, first_day: int) -> dict[str, Any]:
    """Tap vs bare loop, no latency and no limit, over the same (warmed, cached) pages."""
    sim.configure(latency_s=0, rate_limit_per_minute=0)
    start, end = day_range(first_day, sizes.p1_days)
    sim.warm(start, end)
    token = fetch_token(sim.url, CLIENT_ID, CLIENT_SECRET)
    with open(os.devnull, "w") as sink:
        bare_loop(sim.url, token, intervals(start, end), sink)  # fills the page cache: untimed
        taps: list[TapRun] = []
        bares: list[tuple[LoopResult, float]] = []
        for _ in range(sizes.p1_rounds):
            taps.append(
                run_tap(
                    tap_config(sim, start, end, requests_per_minute=TAP_UNLIMITED_RPM, **QUERY_PATH)
                )
            )
            bares.append(
                in_process_cpu(lambda: bare_loop(sim.url, token, intervals(start, end), sink))
            )
    tap = min(taps, key=lambda r: r.wall_s)
    bare, bare_cpu = min(bares, key=lambda b: b[0].seconds)
    return {
        "range": [start, end],
        "rounds": sizes.p1_rounds,
        "tap": _tap_figures(tap),
        "tap_settings": {"max_concurrency": 4, "requests_per_minute": TAP_UNLIMITED_RPM},
        "bare": {
            "records": bare.records,
            "pages": bare.pages,
            "requests": bare.requests,
            "wall_s": bare.seconds,
            "cpu_s": bare_cpu,
            "records_per_s": bare.records / bare.seconds,
        },
        "tap_rounds_records_per_s": [r.records_per_s for r in taps],
        "bare_rounds_records_per_s": [b.records / b.seconds for b, _ in bares],
        "same_records": tap.records == bare.records,
        "p1_ratio": tap.records_per_s / (bare.records / bare.seconds),
        "cpu_ratio": tap.cpu_s / bare_cpu if bare_cpu else None,
    }


def p2_wall(
    sim: Simulator,
    days: tuple[int, int],
    latency_s: float,
    tutorial_pages: int,
    concurrency: tuple[int, ...],
) -> dict[str, Any]:
    """Tap vs rate-limit floor vs tutorial loop, with page latency and a 300/min limit."""
    start, end = day_range(*days)
    sim.configure(latency_s=0, rate_limit_per_minute=0)
    sim.warm(start, end)
    sim.configure(latency_s=latency_s, rate_limit_per_minute=RATE_LIMIT, rate_limit_window_s=60)
    runs = []
    for workers in concurrency:
        sim.reset_stats()
        tap = run_tap(
            tap_config(
                sim,
                start,
                end,
                max_concurrency=workers,
                **QUERY_PATH,
                requests_per_minute=RATE_LIMIT,
            )
        )
        stats = sim.stats()
        floor_s = tap.pages * 60 / RATE_LIMIT
        runs.append(
            {
                "max_concurrency": workers,
                "tap": _tap_figures(tap),
                "progress": tap.progress,
                "floor_s": floor_s,
                "floor_ratio": tap.wall_s / floor_s,
                "sim_429_sent": stats.get("rate_limited", 0),
                "sim_requests": stats.get("requests_total", 0),
            }
        )
    token = fetch_token(sim.url, CLIENT_ID, CLIENT_SECRET)
    tutorial = tutorial_loop(sim.url, token, intervals(start, end), max_pages=tutorial_pages)
    per_page = tutorial.seconds / tutorial.pages
    pages = runs[0]["tap"]["pages"]
    for run in runs:
        run["tutorial_estimate_s"] = per_page * run["tap"]["pages"]
        run["speedup"] = run["tutorial_estimate_s"] / run["tap"]["wall_s"]
    return {
        "range": [start, end],
        "latency_s": latency_s,
        "rate_limit_per_minute": RATE_LIMIT,
        "pages": pages,
        "runs": runs,
        "tutorial": {
            "pages_measured": tutorial.pages,
            "records_measured": tutorial.records,
            "seconds_measured": tutorial.seconds,
            "seconds_per_page": per_page,
            "throttled": tutorial.throttled,
            "page_times": tutorial.page_times,
        },
    }


def p3_memory(sim: Simulator, sizes: Sizes, first_day: int) -> dict[str, Any]:
    """Tap peak RSS over a small and a large range (fresh process each)."""
    sim.configure(latency_s=0, rate_limit_per_minute=0)
    out = {}
    for name, days in (("small", sizes.p3_small_days), ("large", sizes.p3_large_days)):
        start, end = day_range(first_day, days)
        tap = run_tap(
            tap_config(sim, start, end, requests_per_minute=TAP_UNLIMITED_RPM, **QUERY_PATH)
        )
        out[name] = {"range": [start, end], **_tap_figures(tap)}
    out["p3_ratio"] = out["large"]["peak_rss_mb"] / out["small"]["peak_rss_mb"]
    return out


def p7_all_streams(sim: Simulator, first_day: int, days: int) -> dict[str, Any]:
    """Every stream in one run at 300/min vs the floor of what it requested.

    The same range is read with ``conversation_details`` alone first (same warmed pages, same
    machine load): its floor ratio is the baseline the every-stream run is compared with.
    """
    start, end = day_range(first_day, days)
    sim.configure(latency_s=0, rate_limit_per_minute=0)
    sim.warm(start, end)
    sim.configure(latency_s=0.4, rate_limit_per_minute=RATE_LIMIT, rate_limit_window_s=60)
    config = tap_config(sim, start, end, **QUERY_PATH, requests_per_minute=RATE_LIMIT)
    out: dict[str, Any] = {"range": [start, end], "streams": len(STREAM_NAMES)}
    for name, streams in (("details_only", ("conversation_details",)), ("all", STREAM_NAMES)):
        sim.reset_stats()
        tap = run_tap(config, streams=streams)
        stats = sim.stats()
        by_path = {
            path: sum(by_status.values())
            for path, by_status in stats["requests"].items()
            if path != "/oauth/token"
        }
        requests = sum(by_path.values())
        floor_s = requests * 60 / RATE_LIMIT
        out[name] = {
            "tap": _tap_figures(tap),
            "requests": requests,
            "requests_by_path": by_path,
            "sim_429_sent": stats.get("rate_limited", 0),
            "floor_s": floor_s,
            "floor_ratio": tap.wall_s / floor_s,
        }
    out["p7_floor_ratio"] = out["all"]["floor_ratio"]
    return out


def _tap_figures(tap: TapRun) -> dict[str, Any]:
    return {
        "records": tap.records,
        "pages": tap.pages,
        "requests": tap.requests,
        "wall_s": tap.wall_s,
        "cpu_s": tap.cpu_s,
        "peak_rss_mb": tap.peak_rss_mb,
        "records_per_s": tap.records_per_s,
        "http": tap.http,
    }


# -- report -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def verdict(name: str, value: float) -> str:
    op, target = TARGETS[name]
    met = value >= target if op == ">=" else value <= target
    return f"target {op} {target:g}: {'MET' if met else 'MISSED'}"


SECTIONS = ("head", "p1", "p2", "p2_slow", "p3", "p7", "p4")


def report(results: dict[str, Any], sections: tuple[str, ...] = SECTIONS) -> str:
    """The figures of ``sections`` as text (targets marked MET / MISSED)."""
    m = results["machine"]
    lines: list[str] = []
    if "head" in sections:
        lines += [
            f"machine: {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
            f"{m['date']}, load average {m['load_average'][0]} at start",
            f"sizes: {results['preset']} {results['sizes']}",
        ]
        if results["preset"] != "full":
            lines.append(
                "(smoke sizes: start-up time dominates; the targets apply to the full preset)"
            )
    if "p1" in sections and (p1 := results.get("p1")):
        tap, bare = p1["tap"], p1["bare"]
        lines += [
            "",
            f"P1 CPU  no latency, no limit; {tap['pages']} pages, {tap['records']:,} records; "
            f"best of {p1['rounds']}",
            f"  tap (CLI process)  {tap['records_per_s']:>8,.0f} records/s  "
            f"wall {tap['wall_s']:6.2f} s  CPU {tap['cpu_s']:6.2f} s  (max_concurrency 4, "
            f"requests_per_minute {p1['tap_settings']['requests_per_minute']})",
            f"  bare loop          {bare['records_per_s']:>8,.0f} records/s  "
            f"wall {bare['wall_s']:6.2f} s  CPU {bare['cpu_s']:6.2f} s  ({bare['pages']} pages)",
            "  every round (records/s): tap "
            + ", ".join(f"{x:,.0f}" for x in p1["tap_rounds_records_per_s"])
            + "; bare loop "
            + ", ".join(f"{x:,.0f}" for x in p1["bare_rounds_records_per_s"]),
            f"  same records: {p1['same_records']}; tap/bare records/s = {p1['p1_ratio']:.2f}x  "
            f"{verdict('p1_ratio', p1['p1_ratio'])}; tap/bare CPU = {p1['cpu_ratio']:.2f}x",
        ]
    for key, title in (("p2", "P2 wall"), ("p2_slow", "P2 wall, slow pages")):
        if key not in sections or not (p2 := results.get(key)):
            continue
        tut = p2["tutorial"]
        lines += [
            "",
            f"{title}  latency {p2['latency_s']} s/page, limit {p2['rate_limit_per_minute']}/min "
            f"(simulator and tap budget); {p2['pages']} pages",
            f"  tutorial loop: measured {tut['pages_measured']} pages in "
            f"{tut['seconds_measured']:.1f} s = {tut['seconds_per_page']:.3f} s/page, "
            f"429s {tut['throttled']}; extrapolated linearly to {p2['pages']} pages",
        ]
        for run in p2["runs"]:
            tap = run["tap"]
            lines += [
                f"  tap max_concurrency {run['max_concurrency']}: {tap['wall_s']:.1f} s; floor "
                f"{run['floor_s']:.1f} s -> {run['floor_ratio']:.3f}x floor"
                + (f"  {verdict('p2_floor_ratio', run['floor_ratio'])}" if key == "p2" else ""),
                f"    tutorial {run['tutorial_estimate_s']:.1f} s (extrapolated) -> tap "
                f"{run['speedup']:.2f}x faster"
                + (f"  {verdict('p2_speedup', run['speedup'])}" if key == "p2" else ""),
                f"    429s received by the tap {tap['http'].get('responses_429', 0):g} "
                f"(simulator sent {run['sim_429_sent']}); requests {tap['requests']}; "
                f"pacing wait (sum over workers) {tap['http'].get('pacing_wait_s', 0):.1f} s",
            ]
    if "p3" in sections and (p3 := results.get("p3")):
        small, large = p3["small"], p3["large"]
        lines += [
            "",
            "P3 memory  tap peak RSS (fresh process each, kernel accounting)",
            f"  {small['records']:>9,} records: {small['peak_rss_mb']:.1f} MB",
            f"  {large['records']:>9,} records: {large['peak_rss_mb']:.1f} MB "
            f"({large['wall_s']:.1f} s)",
            f"  ratio {p3['p3_ratio']:.3f}x  {verdict('p3_ratio', p3['p3_ratio'])}",
        ]
    if "p7" in sections and (p7 := results.get("p7")):
        alone, every = p7["details_only"], p7["all"]
        lines += [
            "",
            f"P7 every stream ({p7['streams']} selected) vs conversation_details alone, latency "
            f"0.4 s/page, limit {RATE_LIMIT}/min, {every['tap']['records']:,} conversations",
            f"  every stream: {every['requests']} API requests served, tap "
            f"{every['tap']['wall_s']:.1f} s (CPU {every['tap']['cpu_s']:.1f} s); floor "
            f"{every['floor_s']:.1f} s -> {every['floor_ratio']:.3f}x floor  "
            f"{verdict('p7_floor_ratio', every['floor_ratio'])}",
            f"  details alone: {alone['requests']} API requests served, tap "
            f"{alone['tap']['wall_s']:.1f} s (CPU {alone['tap']['cpu_s']:.1f} s); floor "
            f"{alone['floor_s']:.1f} s -> {alone['floor_ratio']:.3f}x floor (same run, baseline)",
            "  requests (every stream): "
            + ", ".join(f"{path} {n}" for path, n in sorted(every["requests_by_path"].items())),
            f"  429s sent by the simulator {every['sim_429_sent']} / {alone['sim_429_sent']}",
        ]
    if "p4" in sections:
        lines += ["", "P4 requests per 1,000 records"]
    for label, figures in _p4_sources(results) if "p4" in sections else []:
        per_k = 1000 * figures["requests"] / figures["records"] if figures["records"] else 0.0
        lines.append(
            f"  {label}: {figures['requests']} requests / {figures['records']:,} records = "
            f"{per_k:.2f}  {verdict('p4_requests_per_1000', per_k)}"
        )
    return "\n".join(lines)


def _p4_sources(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    if p1 := results.get("p1"):
        out.append(("P1 run (no limit)", p1["tap"]))
    if p2 := results.get("p2"):
        out.append(("P2 run (300/min)", p2["runs"][0]["tap"]))
    if p3 := results.get("p3"):
        out.append(("P3 large run", p3["large"]))
    return out


# -- chart ------------------------------------------------------------------------------------


def chart(results: dict[str, Any], path: Path) -> None:
    """Wall time vs pages: tap (progress per window), rate-limit floor, tutorial loop."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [results[k] for k in ("p2", "p2_slow") if results.get(k)]
    fig, axes = plt.subplots(1, len(parts), figsize=(6 * len(parts), 4.5), squeeze=False)
    for ax, p2 in zip(axes[0], parts, strict=True):
        pages = p2["pages"]
        tut = p2["tutorial"]
        ax.plot(
            [0, pages],
            [0, pages * 60 / p2["rate_limit_per_minute"]],
            "k--",
            label=f"rate-limit floor ({p2['rate_limit_per_minute']}/min)",
        )
        measured = [0.0, *tut["page_times"]]
        ax.plot(
            range(len(measured)),
            measured,
            color="tab:red",
            lw=2,
            label=f"tutorial loop (measured, {tut['pages_measured']} pages)",
        )
        ax.plot(
            [len(measured) - 1, pages],
            [measured[-1], tut["seconds_per_page"] * pages],
            color="tab:red",
            ls=":",
            label="tutorial loop (extrapolated)",
        )
        for run in p2["runs"]:
            points = [(0.0, 0), *run["progress"]]
            ax.plot(
                [p for _, p in points],
                [t for t, _ in points],
                marker="o",
                ms=3,
                label=f"tap, max_concurrency {run['max_concurrency']}",
            )
        ax.set_title(f"{p2['latency_s']:g} s page latency, {pages} pages")
        ax.set_xlabel("pages")
        ax.set_ylabel("wall time (s)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------------


def show(results: dict[str, Any], section: str) -> None:
    """Print one section as soon as its figures exist."""
    print(report(results, (section,)), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="full",
        help="data sizes (full = the issue's sizes, ~10 min)",
    )
    parser.add_argument(
        "--quick",
        action="store_const",
        const="quick",
        dest="preset",
        help="same as --preset quick (a minute or two)",
    )
    parser.add_argument(
        "--only",
        default="p1,p2,p3,p7",
        help="comma-separated parts to run (p1, p2, p3, p7; P4 comes with them; "
        "p5, p6: bench/backfill.py at the same preset, full or quick)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--chart", type=Path, help="write the wall-time chart (PNG) here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = PRESETS[args.preset]
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    results: dict[str, Any] = {"machine": machine(), "preset": args.preset, "sizes": asdict(sizes)}
    # one day range per part, so no part reads pages another part already had served
    p1_first = 0
    p2_first = p1_first + max(sizes.p1_days, sizes.p3_large_days)
    p2_slow_first = p2_first + sizes.p2_days
    p7_first = p2_slow_first + sizes.p2_slow_days
    last = p7_first + sizes.p7_days
    hot_days = [f"--hot-day={DATA_START + timedelta(days=d)}={sizes.per_day}" for d in range(last)]
    sim = Simulator(
        [
            "--now",
            SIM_NOW,
            "--data-start",
            f"{DATA_START}T00:00:00Z",
            "--conversations-per-day",
            "0",
            *hot_days,
        ]
    )
    started = time.monotonic()
    show(results, "head")
    try:
        if "p1" in parts:
            results["p1"] = p1_cpu(sim, sizes, p1_first)
            show(results, "p1")
        if "p2" in parts:
            results["p2"] = p2_wall(
                sim, (p2_first, sizes.p2_days), 0.4, sizes.p2_tutorial_pages, (4,)
            )
            show(results, "p2")
            results["p2_slow"] = p2_wall(
                sim,
                (p2_slow_first, sizes.p2_slow_days),
                1.5,
                sizes.p2_slow_tutorial_pages,
                sizes.p2_slow_concurrency,
            )
            show(results, "p2_slow")
        if "p3" in parts:
            results["p3"] = p3_memory(sim, sizes, p1_first)
            show(results, "p3")
        if "p7" in parts:
            results["p7"] = p7_all_streams(sim, p7_first, sizes.p7_days)
            show(results, "p7")
    finally:
        sim.stop()
    if backfill_parts := ",".join(sorted(parts & {"p5", "p6"})):
        preset = "full" if args.preset == "full" else "quick"
        backfill.main(["--preset", preset, "--only", backfill_parts])
    results["bench_seconds"] = time.monotonic() - started
    show(results, "p4")
    print(f"\n(benchmark took {results['bench_seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.chart and ("p2" in results):
        chart(results, args.chart)
        print(f"chart written to {args.chart}")
    sys.stdout.flush()
    return 0
