"""``genesys-sim`` command line: every bad value is one line naming its flag, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from genesys_sim.cli import SETTINGS, build_parser, config_from_args, main

BIN = Path(sys.executable).parent / "genesys-sim"

BAD = [
    (["--now", "garbage"], "--now"),
    (["--data-start", "2024-02-30"], "--data-start"),
    (["--data-end", "tomorrow"], "--data-end"),
    (["--port", "http"], "--port"),
    (["--port", "70000"], "--port"),
    (["--seed", "1.5"], "--seed"),
    (["--conversations-per-day", "-1"], "--conversations-per-day"),
    (["--rate-window", "0"], "--rate-window"),
    (["--latency", "-0.5"], "--latency"),
    (["--late-wrapup-fraction", "1.5"], "--late-wrapup-fraction"),
    (["--hot-day", "2024-05-03"], "--hot-day"),
    (["--hot-day", "May3=100"], "--hot-day"),
    (["--hot-day", "2024-05-03=lots"], "--hot-day"),
    (["--client", "nosecret"], "--client"),
    (["--host", "0.0.0.0"], "--host"),
    (["--fault", "explode"], "--fault"),
    (["--fault", "status:status=418"], "--fault"),
    (["--fault-seed", "x"], "--fault-seed"),
    (["--jobs-beyond-availability", "all"], "--jobs-beyond-availability"),
    (["--job-clock", "cpu"], "--job-clock"),
    (["--job-max-concurrent", "-2"], "--job-max-concurrent"),
    (["--job-concurrency-status", "503"], "--job-concurrency-status"),
    (["--job-expired-results-status", "410"], "--job-expired-results-status"),
    (["--job-max-page-size", "0"], "--job-max-page-size"),
    (["--job-run-per-1000", "fast"], "--job-run-per-1000"),
]


@pytest.mark.parametrize(("argv", "flag"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_value_is_one_line_naming_the_flag(capsys, argv, flag):
    assert main(["serve", "--port", "0", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"genesys-sim: {flag}: "), err


def test_unknown_flag_and_missing_command_are_one_line(capsys):
    assert main(["serve", "--bogus", "1"]) == 2
    assert capsys.readouterr().err == "genesys-sim: unrecognized arguments: --bogus 1\n"
    assert main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["bench", "--pages", "none"]) == 2
    assert capsys.readouterr().err.startswith("genesys-sim: --pages: ")


def test_console_command_names_the_flag():
    run = subprocess.run(
        [str(BIN), "serve", "--now", "garbage"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [
        "genesys-sim: --now: not an ISO-8601 time: 'garbage' (e.g. 2024-05-08T00:00:00Z)"
    ]


def test_every_setting_flag_reaches_the_config():
    args = build_parser().parse_args(
        [
            "serve",
            "--now",
            "2024-05-09T12:00:00Z",
            "--availability-lag",
            "7200",
            "--jobs-beyond-availability",
            "include",
            "--job-clock",
            "wall",
            "--job-polls-queued",
            "0",
            "--job-polls-pending",
            "0",
            "--job-queue",
            "3",
            "--job-run",
            "20",
            "--job-run-per-1000",
            "2.5",
            "--job-ttl",
            "600",
            "--job-expired-results-status",
            "400",
            "--job-page-size",
            "500",
            "--job-max-page-size",
            "10000",
            "--job-max-interval-days",
            "0",
            "--job-max-concurrent",
            "3",
            "--job-concurrency-scope",
            "client",
            "--job-concurrency-status",
            "409",
            "--job-concurrency-retry-after",
            "0",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.now.isoformat() == "2024-05-09T12:00:00+00:00"  # type: ignore[union-attr]
    assert (cfg.data_availability_lag_s, cfg.jobs_beyond_availability, cfg.job_clock) == (
        7200,
        "include",
        "wall",
    )
    assert (
        cfg.job_polls_queued,
        cfg.job_polls_pending,
        cfg.job_queue_s,
        cfg.job_run_s,
        cfg.job_run_s_per_1000,
        cfg.job_ttl_s,
    ) == (0, 0, 3.0, 20.0, 2.5, 600)
    assert (
        cfg.job_expired_results_status,
        cfg.job_results_default_page_size,
        cfg.job_results_max_page_size,
        cfg.job_max_interval_days,
    ) == (400, 500, 10000, 0)
    assert (
        cfg.job_max_concurrent,
        cfg.job_concurrency_scope,
        cfg.job_concurrency_status,
        cfg.job_concurrency_retry_after_s,
    ) == (3, "client", 409, 0)
    defaults = config_from_args(build_parser().parse_args(["serve"]))
    fields = {fld for _flag, fld, _t, _h in SETTINGS}
    assert {f: getattr(defaults, f) for f in fields} == {
        f: getattr(type(defaults)(), f) for f in fields
    }  # flag defaults = SimConfig defaults
