"""Fault switches: which requests misbehave and how (docs/simulator.md lists every kind)."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: kinds decided before the request is handled
PRE_KINDS = ("revoke", "latency", "hang", "reset", "status", "rate_limit", "echo_auth")
#: kinds that alter a successful response
POST_KINDS = ("empty_page", "total_hits", "truncated", "html", "trickle", "oversize")
#: kinds that change the data the query sees (always on while configured)
DATA_KINDS = ("duplicates", "shift")
KINDS = PRE_KINDS + POST_KINDS + DATA_KINDS
#: ``jobs`` = every jobs endpoint; ``jobs_<endpoint>`` = one of them
JOB_TARGETS = ("jobs_create", "jobs_status", "jobs_results", "jobs_delete", "jobs_availability")
#: analyst.py endpoints: the user-details query, the reference lists
ANALYST_TARGETS = ("user_details", "lists")
TARGETS = ("query", "jobs", *JOB_TARGETS, "multiget", *ANALYST_TARGETS, "token", "api", "any")
FAULT_STATUSES = (408, 409, 500, 502, 503, 504)
ECHO_AUTH_STATUSES = (400, 401, 500)
_FLOAT_OPTS = ("rate", "hang_s", "latency_s", "factor", "dup_rate", "trickle_interval_s", "size_mb")
_INT_OPTS = ("status", "retry_after", "times", "drift", "after_page", "shift_rows", "auth_status")


@dataclass
class FaultRule:
    """One switch. Fires on the ``on`` request numbers (1-based, counted per rule over requests
    of its ``target`` since it was configured), at ``rate`` (seeded RNG), or on every request
    when neither is given. ``times`` caps how often it fires."""

    kind: str
    rate: float = 0.0
    on: tuple[int, ...] = ()
    target: str = "query"
    times: int | None = None
    status: int = 503  # status
    retry_after: int | None = None  # status 503/429: Retry-After seconds (rate_limit default 1)
    hang_s: float = 5.0  # hang: sleep then close without a response
    latency_s: float = 0.5  # latency: extra delay
    factor: float = 1.5  # total_hits: reported = round(true * factor)
    dup_rate: float = 0.02  # duplicates: share of index entries duplicated (short pages)
    drift: int = 0  # total_hits: + drift x (times fired - 1): a count that moves (live interval)
    after_page: int = 1  # shift: the index moves once this page number of a query was served
    shift_rows: int = 1  # shift: > 0 rows appear early, < 0 early rows move to the end
    trickle_interval_s: float = 2.0  # trickle: one body byte per interval
    size_mb: float = 20.0  # oversize: body size
    chunked: bool = False  # oversize: Transfer-Encoding chunked, no Content-Length
    auth_status: int = 401  # echo_auth: 400/401 OAuth JSON, 500 plain text
    seen: int = field(default=0, repr=False)
    fired: int = field(default=0, repr=False)
    #: shift: match keys of the queries whose index has moved
    shifted: set[str] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind: unknown {self.kind!r} (one of {', '.join(KINDS)})")
        if self.target not in TARGETS:
            raise ValueError(f"fault target: unknown {self.target!r} (one of {', '.join(TARGETS)})")
        if self.kind == "status" and self.status not in FAULT_STATUSES:
            raise ValueError(f"fault status: must be one of {FAULT_STATUSES}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("fault rate: must be within [0, 1]")
        if self.kind == "echo_auth":
            if self.target not in ("query", "token"):
                raise ValueError("fault echo_auth: target must be token")
            self.target = "token"
            if self.auth_status not in ECHO_AUTH_STATUSES:
                raise ValueError(f"fault auth_status: must be one of {ECHO_AUTH_STATUSES}")
        if self.kind == "shift" and (self.shift_rows == 0 or self.after_page < 1):
            raise ValueError("fault shift: shift_rows must be non-zero and after_page >= 1")
        if self.kind == "trickle" and self.trickle_interval_s <= 0:
            raise ValueError("fault trickle_interval_s: must be > 0")
        if self.kind == "oversize" and self.size_mb <= 0:
            raise ValueError("fault size_mb: must be > 0")
        self.on = tuple(int(n) for n in self.on)
        self.hang_s = float(self.hang_s)
        if isinstance(self.chunked, str):
            self.chunked = self.chunked.strip().lower() in ("1", "true", "yes", "on")

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> FaultRule:
        names = {f.name for f in fields(cls)} - {"seen", "fired", "shifted"}
        unknown = set(spec) - names
        if unknown:
            raise ValueError(f"fault: unknown option(s) {', '.join(sorted(unknown))}")
        return cls(**spec)

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """CLI form ``kind[:opt=value,...]``, e.g. ``status:rate=0.05,status=503,retry_after=2``
        or ``reset:on=3+7`` (request numbers joined by ``+``)."""
        kind, _, opts = text.partition(":")
        spec: dict[str, Any] = {"kind": kind.strip()}
        for item in filter(None, (o.strip() for o in opts.split(","))):
            key, _, value = item.partition("=")
            key = key.strip()
            if key == "on":
                spec[key] = tuple(int(v) for v in value.split("+") if v)
            elif key in _FLOAT_OPTS:
                spec[key] = float(value)
            elif key in _INT_OPTS:
                spec[key] = int(value)
            else:
                spec[key] = value
        return cls.from_dict(spec)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["on"] = list(self.on)
        out.pop("shifted", None)
        return out


def target_matches(rule_target: str, targets: set[str]) -> bool:
    return rule_target == "any" or rule_target in targets


class FaultInjector:
    """Thread-safe set of fault rules with a seeded RNG (same seed -> same decisions)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._seed = seed
        self._rng = random.Random(seed)
        self.version = 0
        self._data: tuple[int, dict[str, FaultRule]] = (-1, {})

    def configure(self, *rules: FaultRule | dict[str, Any], seed: int | None = None) -> None:
        """Replace all rules (dicts are accepted, e.g. from the control endpoint)."""
        parsed = [r if isinstance(r, FaultRule) else FaultRule.from_dict(r) for r in rules]
        with self._lock:
            self._rules = parsed
            if seed is not None:
                self._seed = seed
            self._rng = random.Random(self._seed)
            self.version += 1

    def add(self, kind: str, **options: Any) -> FaultRule:
        rule = FaultRule(kind=kind, **options)
        with self._lock:
            self._rules.append(rule)
            self.version += 1
        return rule

    def clear(self) -> None:
        self.configure()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide(self, targets: set[str]) -> list[FaultRule]:
        """Count this request for every matching rule; return the rules that fire on it."""
        fired = []
        with self._lock:
            for rule in self._rules:
                if rule.kind in DATA_KINDS or not target_matches(rule.target, targets):
                    continue
                rule.seen += 1
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.on or rule.rate:
                    hit = rule.seen in rule.on or (rule.rate > 0 and self._rng.random() < rule.rate)
                else:
                    hit = True
                if hit:
                    rule.fired += 1
                    fired.append(rule)
        return fired

    def data_rules(self) -> dict[str, FaultRule]:
        """The first configured rule of each DATA kind: the one that acts (looked up once per
        rules version)."""
        with self._lock:
            version, found = self._data
            if version != self.version:
                found = {}
                for rule in self._rules:
                    if rule.kind in DATA_KINDS:
                        found.setdefault(rule.kind, rule)
                self._data = (self.version, found)
            return found
