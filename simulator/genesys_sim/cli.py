"""``genesys-sim serve``: run the simulator as a process (prints its URL, stops on SIGINT/TERM).

Every bad value gives one line naming its flag (``genesys-sim: --now: ...``) and exit status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from genesys_sim.bench import main as bench_main
from genesys_sim.config import CHOICES, SimConfig, parse_time
from genesys_sim.faults import FaultRule
from genesys_sim.server import SimServer


class UsageError(Exception):
    """A bad command line; the message names the flag."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message.removeprefix("argument "))


def _time(text: str) -> str:
    try:
        parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 time: {text!r} (e.g. 2024-05-08T00:00:00Z)"
        ) from None
    return text


def _number(kind: type, low: float, what: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        return value

    return convert


_count = _number(int, 0, "a whole number")
_positive = _number(int, 1, "a whole number")
_seconds = _number(float, 0.0, "a number of seconds")


def _fraction(text: str) -> float:
    value = _number(float, 0.0, "a number")(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return float(value)


def _port(text: str) -> int:
    value = int(_count(text))
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be within [0, 65535], got {text}")
    return value


def _hot_day(text: str) -> tuple[str, int]:
    day, _, count = text.partition("=")
    if not count:
        raise argparse.ArgumentTypeError(f"expects YYYY-MM-DD=COUNT, got {text!r}")
    return _time(day), int(_count(count))


def _client(text: str) -> tuple[str, str]:
    cid, _, secret = text.partition(":")
    if not cid or not secret:
        raise argparse.ArgumentTypeError("expects ID:SECRET")
    return cid, secret


def _fault(text: str) -> FaultRule:
    try:
        return FaultRule.parse(text)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: (flag, SimConfig field, type, help) of each plain setting of ``serve``; the flag is what a
#: bad value's message names. Fields with a fixed set of values (config.CHOICES) get choices.
SETTINGS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    ("--seed", "seed", int, "data seed"),
    ("--conversations-per-day", "conversations_per_day", _count, "daily volume"),
    ("--data-start", "data_start", _time, "first instant with data"),
    ("--data-end", "data_end", _time, "end of data (default: none)"),
    ("--now", "now", _time, "initial simulated clock"),
    ("--token-lifetime", "token_lifetime_s", _count, "seconds"),
    ("--rate-limit", "rate_limit_per_minute", _count, "requests per window per token (0: off)"),
    ("--rate-window", "rate_limit_window_s", _positive, "seconds"),
    ("--latency", "latency_s", _seconds, "seconds per response"),
    ("--latency-per-record", "latency_per_record_s", _seconds, "seconds per record"),
    (
        "--latency-per-page",
        "latency_per_page_s",
        _seconds,
        "sync query: + (pageNumber - 1) x this many seconds",
    ),
    ("--late-wrapup-fraction", "late_wrapup_fraction", _fraction, "share of late wrap-ups"),
    ("--late-wrapup-delay", "late_wrapup_delay_s", _count, "seconds"),
    (
        "--long-conversation-fraction",
        "long_conversation_fraction",
        _fraction,
        "share of message/email conversations open for days",
    ),
    ("--long-conversation-max-days", "long_conversation_max_days", _positive, "days"),
    ("--multiget-max-ids", "multiget_max_ids", _positive, "ids per multi-get"),
    ("--max-hang", "max_hang_s", _seconds, "cap of hang/trickle faults in seconds"),
    ("--cache-mb", "cache_mb", _positive, "MB of rendered records and pages kept"),
    # async jobs (docs/simulator.md "Async jobs")
    (
        "--availability-lag",
        "data_availability_lag_s",
        _count,
        "dataAvailabilityDate = now - this many seconds (floored to the hour)",
    ),
    (
        "--jobs-beyond-availability",
        "jobs_beyond_availability",
        str,
        "truncate: job data only up to dataAvailabilityDate; include: up to now",
    ),
    ("--job-clock", "job_clock", str, "clock job latency runs on"),
    ("--job-polls-queued", "job_polls_queued", _count, "polls that end QUEUED (0: time only)"),
    ("--job-polls-pending", "job_polls_pending", _count, "polls that end PENDING (0: time only)"),
    ("--job-queue", "job_queue_s", _seconds, "seconds QUEUED"),
    ("--job-run", "job_run_s", _seconds, "seconds PENDING (base)"),
    ("--job-run-per-1000", "job_run_s_per_1000", _seconds, "+ seconds PENDING per 1000 results"),
    ("--job-ttl", "job_ttl_s", _count, "seconds results live after completion"),
    (
        "--job-expired-results-status",
        "job_expired_results_status",
        int,
        "status of the results of an expired job",
    ),
    ("--job-page-size", "job_results_default_page_size", _positive, "default results pageSize"),
    ("--job-max-page-size", "job_results_max_page_size", _positive, "maximum results pageSize"),
    ("--job-max-interval-days", "job_max_interval_days", _count, "0: unlimited"),
    ("--job-max-concurrent", "job_max_concurrent", _count, "queued/running jobs (0: unlimited)"),
    ("--job-concurrency-scope", "job_concurrency_scope", str, "the limit counts per org or client"),
    ("--job-concurrency-status", "job_concurrency_status", int, "status over the limit"),
    (
        "--job-concurrency-retry-after",
        "job_concurrency_retry_after_s",
        _count,
        "Retry-After over the limit (0: no header)",
    ),
)
#: SimConfig field -> the flag that sets it (names the flag in errors raised by SimConfig)
FLAGS = {fld: flag for flag, fld, _t, _h in SETTINGS} | {
    "host": "--host",
    "port": "--port",
    "hot_days": "--hot-day",
    "clients": "--client",
    "overlap_check": "--no-overlap-check",
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genesys-sim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the simulated API on loopback")
    d = SimConfig()
    serve.add_argument("--host", default="127.0.0.1", help="loopback address only")
    serve.add_argument("--port", type=_port, default=8765, help="0 picks a free port")
    for flag, fld, kind, text in SETTINGS:
        default = getattr(d, fld)
        if fld in ("data_start", "now") and default is not None:
            default = default.isoformat()
        choices = CHOICES.get(fld)
        serve.add_argument(
            flag,
            dest=fld,
            type=kind,
            default=default,
            choices=choices,
            metavar=None if choices else flag[2:].upper().replace("-", "_"),
            help=f"{text} (default {default})",
        )
    serve.add_argument(
        "--hot-day",
        type=_hot_day,
        action="append",
        default=[],
        metavar="DATE=COUNT",
        help="override one day's volume (repeatable)",
    )
    serve.add_argument(
        "--client",
        type=_client,
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="accepted OAuth client (default sim-client)",
    )
    serve.add_argument(
        "--no-overlap-check",
        action="store_true",
        help="sync query: start-day rule only, no activity overlap",
    )
    serve.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="SPEC",
        help="kind[:opt=v,...], e.g. status:rate=0.05,status=503 (repeatable)",
    )
    serve.add_argument("--fault-seed", type=int, default=None)
    bench = sub.add_parser("bench", help="measure pages/s served (100-record pages)")
    bench.add_argument("--pages", type=_positive, default=300)
    bench.add_argument(
        "--clients", type=_positive, default=1, help="concurrent keep-alive sessions"
    )
    bench.add_argument(
        "--in-process",
        action="store_true",
        help="server thread in the measuring process (as the pytest fixture)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The SimConfig of ``serve`` arguments (ValueError: "<flag>: <what is wrong>")."""
    settings = {fld: getattr(args, fld) for _f, fld, _t, _h in SETTINGS}
    try:
        cfg = SimConfig(
            **settings,
            hot_days=dict(args.hot_day),
            host=args.host,
            port=args.port,
            overlap_check=not args.no_overlap_check,
        )
    except ValueError as exc:
        field, sep, rest = str(exc).partition(": ")
        if sep and field in FLAGS:
            raise ValueError(f"{FLAGS[field]}: {rest}") from exc
        raise
    if args.client:
        cfg.clients = dict(args.client)
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "bench":
            return bench_main(args.pages, args.clients, args.in_process)
        cfg = config_from_args(args)
    except (UsageError, ValueError) as exc:
        print(f"genesys-sim: {exc}", file=sys.stderr)
        return 2
    sim = SimServer(cfg)
    try:
        sim.start()
    except OSError as exc:
        print(f"genesys-sim: cannot listen on {cfg.host}:{cfg.port}: {exc}", file=sys.stderr)
        return 1
    sim.faults.configure(*args.fault, seed=args.fault_seed)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"genesys-sim listening on {sim.base_url}", flush=True)
    try:
        stop.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
