"""``genesys-sim serve``: run the simulator as a process (prints its URL, stops on SIGINT/TERM)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from genesys_sim.config import SimConfig
from genesys_sim.faults import FaultRule
from genesys_sim.server import SimServer


def _hot_day(text: str) -> tuple[str, int]:
    day, _, count = text.partition("=")
    if not count:
        raise argparse.ArgumentTypeError("--hot-day expects YYYY-MM-DD=COUNT")
    return day, int(count)


def _client(text: str) -> tuple[str, str]:
    cid, _, secret = text.partition(":")
    if not secret:
        raise argparse.ArgumentTypeError("--client expects ID:SECRET")
    return cid, secret


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genesys-sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the simulated API on loopback")
    d = SimConfig()
    serve.add_argument("--host", default="127.0.0.1", help="loopback address only")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=d.seed)
    serve.add_argument("--conversations-per-day", type=int, default=d.conversations_per_day)
    serve.add_argument("--data-start", default="2024-05-01T00:00:00Z")
    serve.add_argument("--data-end", default=None)
    serve.add_argument("--now", default="2024-05-08T00:00:00Z", help="initial simulated clock")
    serve.add_argument("--hot-day", type=_hot_day, action="append", default=[],
                       metavar="DATE=COUNT", help="override one day's volume (repeatable)")
    serve.add_argument("--client", type=_client, action="append", default=[],
                       metavar="ID:SECRET", help="accepted OAuth client (default sim-client)")
    serve.add_argument("--token-lifetime", type=int, default=d.token_lifetime_s)
    serve.add_argument("--rate-limit", type=int, default=d.rate_limit_per_minute,
                       help="requests per window per token (0 disables)")
    serve.add_argument("--rate-window", type=int, default=d.rate_limit_window_s)
    serve.add_argument("--latency", type=float, default=0.0, help="seconds per response")
    serve.add_argument("--latency-per-record", type=float, default=0.0)
    serve.add_argument("--no-overlap-check", action="store_true",
                       help="sync query: start-day rule only, no activity overlap")
    serve.add_argument("--late-wrapup-fraction", type=float, default=d.late_wrapup_fraction)
    serve.add_argument("--late-wrapup-delay", type=int, default=d.late_wrapup_delay_s)
    serve.add_argument("--fault", action="append", default=[], metavar="SPEC",
                       help="kind[:opt=v,...], e.g. status:rate=0.05,status=503 (repeatable)")
    serve.add_argument("--fault-seed", type=int, default=None)
    bench = sub.add_parser("bench", help="measure pages/s served (100-record pages)")
    bench.add_argument("--pages", type=int, default=300)
    bench.add_argument("--clients", type=int, default=1, help="concurrent keep-alive sessions")
    bench.add_argument("--in-process", action="store_true",
                       help="server thread in the measuring process (as the pytest fixture)")
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    cfg = SimConfig(
        seed=args.seed, conversations_per_day=args.conversations_per_day,
        data_start=args.data_start, data_end=args.data_end, now=args.now,
        hot_days=dict(args.hot_day), token_lifetime_s=args.token_lifetime,
        rate_limit_per_minute=args.rate_limit, rate_limit_window_s=args.rate_window,
        latency_s=args.latency, latency_per_record_s=args.latency_per_record,
        overlap_check=not args.no_overlap_check, late_wrapup_fraction=args.late_wrapup_fraction,
        late_wrapup_delay_s=args.late_wrapup_delay, host=args.host, port=args.port,
    )
    if args.client:
        cfg.clients = dict(args.client)
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        from genesys_sim.bench import main as bench_main

        return bench_main(args.pages, args.clients, args.in_process)
    try:
        cfg = config_from_args(args)
        rules = [FaultRule.parse(spec) for spec in args.fault]
    except ValueError as exc:
        print(f"genesys-sim: {exc}", file=sys.stderr)
        return 2
    sim = SimServer(cfg)
    try:
        sim.start()
    except OSError as exc:
        print(f"genesys-sim: cannot listen on {cfg.host}:{cfg.port}: {exc}", file=sys.stderr)
        return 1
    sim.faults.configure(*rules, seed=args.fault_seed)
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
