"""The analyst-table endpoints (user details, reference lists), permissions and their ground truth.

``api.SimApp`` calls ``AnalystApi.check_allowed`` for every authenticated ``/api/v2`` request
after auth, rate limiting and refusal faults: it answers 403 for endpoints named in the
``forbidden_endpoints`` switch (any endpoint, conversation ones included). The user-details
query and the reference lists are routed (``routes.py``) to ``user_details`` and ``listing``.
``control`` serves ``/_sim/analyst/*``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from genesys_sim.clock import SimClock
from genesys_sim.config import parse_time
from genesys_sim.data import DataSet, to_ms
from genesys_sim.errors import ApiError, bad_request, correlation_id
from genesys_sim.reference import LIST_PATHS, PATH_TABLES, ReferenceTables
from genesys_sim.status import StatusHistory
from genesys_sim.users import USER_QUERY_PATH, UserDetails, UserQuery, validate_user_query

_DETAILS = "/api/v2/analytics/conversations/details"
#: endpoint name -> (path regex, permissions any of which allows it)
ENDPOINTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "conversation_details": (
        rf"{_DETAILS}(/query)?|/api/v2/analytics/conversations/[^/]+/details",
        ("analytics:conversationDetail:view",),
    ),
    "conversation_jobs": (rf"{_DETAILS}/jobs(/.*)?", ("analytics:conversationDetail:view",)),
    "user_details": (USER_QUERY_PATH, ("analytics:userDetail:view",)),
    "users": (LIST_PATHS["users"], ("directory:user:view", "directory:user:add")),
    "queues": (LIST_PATHS["queues"], ("routing:queue:view",)),
    "wrapupcodes": (LIST_PATHS["wrapupcodes"], ("routing:wrapupCode:view",)),
    "skills": (LIST_PATHS["skills"], ("routing:skill:view", "routing:skill:manage")),
    "languages": (LIST_PATHS["languages"], ("routing:skill:view", "routing:skill:manage")),
    "divisions": (LIST_PATHS["divisions"], ("authorization:division:view",)),
    "groups": (LIST_PATHS["groups"], ("directory:group:view",)),
    "presence_definitions": (
        LIST_PATHS["presence_definitions"],
        ("presence:presenceDefinition:view",),
    ),
    "flows": (LIST_PATHS["flows"], ("architect:flow:view",)),
}
_COMPILED = {name: re.compile(rf"^(?:{pattern})$") for name, (pattern, _p) in ENDPOINTS.items()}
ANALYST_PATHS = frozenset({USER_QUERY_PATH, *PATH_TABLES})
CONTROL_PREFIX = "/_sim/analyst/"


def fault_target(path: str) -> str:
    """Fault target (faults.ANALYST_TARGETS) of an ``ANALYST_PATHS`` path."""
    return "user_details" if path == USER_QUERY_PATH else "lists"


def endpoint_name(path: str) -> str | None:
    """The ``ENDPOINTS`` name of an API path (None: not a named endpoint)."""
    for name, rx in _COMPILED.items():
        if rx.match(path):
            return name
    return None


def check_endpoint_names(names: tuple[str, ...] | list[str]) -> None:
    unknown = [n for n in names if n not in ENDPOINTS]
    if unknown:
        raise ValueError(
            f"forbidden_endpoints: unknown {', '.join(unknown)} (one of {', '.join(ENDPOINTS)})"
        )


def missing_permissions(name: str) -> ApiError:
    _pattern, permissions = ENDPOINTS[name]
    perms = ", ".join(permissions)
    return ApiError(
        403,
        "missing.any.permissions",
        "Unable to perform the requested action. You must have at least one of the "
        f"following permissions assigned: {perms}",
    )


class AnalystApi:
    """Reference lists, user details, the 403 switch and their ground truth."""

    def __init__(self, data: DataSet, clock: SimClock) -> None:
        self.data, self.clock = data, clock
        check_endpoint_names(data.config.forbidden_endpoints)
        self.reference = ReferenceTables(data)
        self.status = StatusHistory(data)
        self.users = UserDetails(data, self.status, self.reference)

    def check_allowed(self, path: str) -> None:
        """403 for an endpoint named in the ``forbidden_endpoints`` switch (any API path)."""
        forbidden = self.data.config.forbidden_endpoints
        if forbidden:
            name = endpoint_name(path)
            if name is not None and name in forbidden:
                raise missing_permissions(name)

    def user_details(self, body: bytes, now_ms: int) -> bytes:
        """``POST /api/v2/analytics/users/details/query``: one page (raises ApiError)."""
        try:
            payload = json.loads(body or b"null")
        except ValueError as exc:
            raise bad_request("The request body could not be parsed as JSON.") from exc
        q = validate_user_query(payload, self.data.config)
        return _dump(self.users.page(q, now_ms))

    def listing(self, path: str, target: str, now_ms: int) -> bytes:
        """``GET`` of a reference list path (``PATH_TABLES``): one page (raises ApiError)."""
        params = {k: ",".join(v) for k, v in parse_qs(urlsplit(target).query).items()}
        return _dump(self.reference.listing(PATH_TABLES[path], params, now_ms))

    # ------------------------------------------------------------------ ground truth
    def ground_truth_users_details(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Every user detail (all pages, ascending userId) of [start, end) at the clock."""
        q = UserQuery(start_ms, end_ms)
        return self.users.matched(q, self.clock.now_ms())

    def reference_table(self, name: str) -> list[dict[str, Any]]:
        """The full table ``name`` (``LIST_PATHS`` keys; users of every state) at the clock."""
        return self.reference.table(name, self.clock.now_ms())

    def control(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """``POST /_sim/analyst/users_details {start, end}``, ``GET /_sim/analyst/reference/X``."""
        try:
            if method == "POST" and path == CONTROL_PREFIX + "users_details":
                payload = json.loads(body or b"{}")
                start = to_ms(parse_time(payload["start"]))
                end = to_ms(parse_time(payload["end"]))
                details = self.ground_truth_users_details(start, end)
                return 200, _dump({"count": len(details), "userDetails": details})
            if method == "GET" and path.startswith(CONTROL_PREFIX + "reference/"):
                rows = self.reference_table(path.rsplit("/", 1)[1])
                return 200, _dump({"count": len(rows), "entities": rows})
            raise ApiError(404, "not.found", f"No control route {method} {path}")
        except ApiError as err:
            return err.status, _dump(err.body(correlation_id()))
        except (ValueError, TypeError, KeyError) as exc:
            return 400, _dump(bad_request(f"{path}: {exc}").body(correlation_id()))


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
