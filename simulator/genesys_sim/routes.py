"""The API surface: (method, path) -> endpoint, with each route's stats template and fault
targets (``faults.TARGETS``). ``api.SimApp`` answers the endpoints by name; the ``/_sim``
control routes are ``control.py`` and ``analyst.py``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from genesys_sim.analyst import ANALYST_PATHS, fault_target
from genesys_sim.multiget import MULTIGET_PATH, ONE_RE, ONE_TEMPLATE
from genesys_sim.users import USER_QUERY_PATH

TOKEN_PATH = "/oauth/token"
BASE = "/api/v2/analytics/conversations/details"
QUERY_PATH = f"{BASE}/query"
JOBS_PATH = f"{BASE}/jobs"
_JOB_ID = "([0-9a-fA-F-]{1,64})"
NOT_ALLOWED = "Method {method} is not allowed here."


@dataclass(frozen=True)
class Route:
    template: str  # the path as counted in stats (ids as {placeholders})
    methods: Mapping[str, str]  # HTTP method -> endpoint name
    targets: frozenset[str]
    pattern: re.Pattern[str] | None = None  # None: the template is the exact path
    #: targets of one method where they differ from ``targets``
    method_targets: Mapping[str, frozenset[str]] = field(default_factory=dict)
    public: bool = False  # no bearer token, no rate limit (the token endpoint)
    not_allowed: str = NOT_ALLOWED  # 405 message for other methods

    def groups(self, path: str) -> tuple[str, ...] | None:
        """The pattern's groups when ``path`` is this route's, else None."""
        if self.pattern is None:
            return () if path == self.template else None
        m = self.pattern.match(path)
        return None if m is None else m.groups()


def _route(
    template: str,
    methods: Mapping[str, str],
    targets: Iterable[str],
    pattern: str | re.Pattern[str] | None = None,
    *,
    method_targets: Mapping[str, Iterable[str]] | None = None,
    public: bool = False,
    not_allowed: str = NOT_ALLOWED,
) -> Route:
    return Route(
        template,
        methods,
        frozenset(targets),
        re.compile(f"^{pattern}$") if isinstance(pattern, str) else pattern,
        {m: frozenset(t) for m, t in (method_targets or {}).items()},
        public,
        not_allowed,
    )


_JOB = ("jobs", "api")
ROUTES: tuple[Route, ...] = (
    _route(
        TOKEN_PATH,
        {"POST": "token"},
        ["token"],
        public=True,
        not_allowed="Use POST for /oauth/token.",
    ),
    _route(QUERY_PATH, {"POST": "query"}, ["query", "api"]),
    _route(f"{JOBS_PATH}/availability", {"GET": "availability"}, ["jobs_availability", *_JOB]),
    _route(
        JOBS_PATH + "/{jobId}/results",
        {"GET": "job_results"},
        ["jobs_results", *_JOB],
        rf"{re.escape(JOBS_PATH)}/{_JOB_ID}/results",
    ),
    _route(
        JOBS_PATH + "/{jobId}",
        {"GET": "job_status", "DELETE": "job_delete"},
        ["jobs_status", *_JOB],
        rf"{re.escape(JOBS_PATH)}/{_JOB_ID}",
        method_targets={"DELETE": ["jobs_delete", *_JOB]},
    ),
    _route(JOBS_PATH, {"POST": "job_create"}, ["jobs_create", *_JOB]),
    _route(MULTIGET_PATH, {"GET": "by_ids"}, ["multiget", "api"]),
    _route(ONE_TEMPLATE, {"GET": "by_id"}, ["multiget", "api"], ONE_RE),
    *(
        _route(
            path,
            {"POST": "user_details"} if path == USER_QUERY_PATH else {"GET": "list"},
            ["api", fault_target(path)],
        )
        for path in sorted(ANALYST_PATHS)
    ),
)
ENDPOINTS = frozenset(name for route in ROUTES for name in route.methods.values())
OTHER = "other"  # stats template of a path no route serves
_OTHER_TARGETS = frozenset({"api"})


@dataclass(frozen=True)
class Match:
    """What a request is: its route (None: no route), endpoint (None: no route, or the method
    is not allowed), stats template, fault targets and pattern groups."""

    route: Route | None
    endpoint: str | None
    template: str
    targets: frozenset[str]
    groups: tuple[str, ...] = ()

    @property
    def public(self) -> bool:
        return self.route is not None and self.route.public


_EXACT = {route.template: route for route in ROUTES if route.pattern is None}
_PATTERNS = tuple(route for route in ROUTES if route.pattern is not None)


def match(method: str, path: str) -> Match:
    route, groups = _find(path)
    if route is None:
        return Match(None, None, OTHER, _OTHER_TARGETS)
    targets = route.method_targets.get(method, route.targets)
    return Match(route, route.methods.get(method), route.template, targets, groups)


def _find(path: str) -> tuple[Route | None, tuple[str, ...]]:
    """The route of ``path`` (no two routes share a path: exact paths are looked up first)."""
    exact = _EXACT.get(path)
    if exact is not None:
        return exact, ()
    for route in _PATTERNS:
        groups = route.groups(path)
        if groups is not None:
            return route, groups
    return None, ()
