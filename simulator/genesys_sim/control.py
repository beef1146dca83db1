"""``/_sim/*`` control endpoint: drive a running simulator from another process.

This module does not import the application (``api``): ``handle_control`` takes any object with
the attributes of ``ControlledApp`` and answers ``(status, JSON payload)``; ``api`` renders it.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from genesys_sim.auth import TokenStore
from genesys_sim.clock import SimClock
from genesys_sim.config import SimConfig, parse_time
from genesys_sim.data import Row, iso, to_ms
from genesys_sim.errors import ApiError, correlation_id, error_body
from genesys_sim.faults import FaultInjector
from genesys_sim.jobs import JobStore
from genesys_sim.stats import Stats

#: ``AsyncConversationQuery`` fields accepted by ``POST /_sim/jobs/ground_truth``
_JOB_BODY_FIELDS = (
    "startOfDayIntervalMatching",
    "limit",
    "segmentFilters",
    "conversationFilters",
    "order",
    "orderBy",
)


class ControlledApp(Protocol):
    """What the control endpoint needs of the simulator application (``api.SimApp``)."""

    config: SimConfig
    clock: SimClock
    faults: FaultInjector
    tokens: TokenStore
    stats: Stats
    jobs: JobStore

    def update_config(self, **changes: Any) -> None: ...

    def ground_truth_rows(
        self,
        start_ms: int,
        end_ms: int,
        segment_filters: list[dict[str, Any]] | None = None,
        conversation_filters: list[dict[str, Any]] | None = None,
    ) -> list[Row]: ...

    def ground_truth(self, start_ms: int, end_ms: int, **filters: Any) -> list[dict[str, Any]]: ...

    def warm(self, start_ms: int, end_ms: int, with_attributes: bool = False) -> int: ...

    def open_rows(self, start_ms: int, end_ms: int) -> list[Row]: ...

    def conversations_by_id(self, ids: list[str]) -> list[dict[str, Any]]: ...


def handle_control(app: ControlledApp, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """Answer one ``/_sim/*`` request: (HTTP status, JSON-serialisable payload)."""
    try:
        payload: Any = json.loads(body) if body else {}
        return 200, _dispatch(app, method, path, payload)
    except ApiError as err:
        return err.status, err.body(correlation_id())
    except (ValueError, TypeError, KeyError) as exc:
        return 400, error_body(400, "bad.request", f"{path}: {exc}", correlation_id())


def _dispatch(app: ControlledApp, method: str, path: str, payload: Any) -> Any:
    route = (method, path)
    if route == ("GET", "/_sim/health"):
        return {"ok": True, "now": iso(app.clock.now_ms())}
    if path == "/_sim/clock":
        if method == "POST":
            if "now" in payload:
                app.clock.set(payload["now"])
            if "advance_s" in payload:
                app.clock.advance(float(payload["advance_s"]))
        return {"now": iso(app.clock.now_ms())}
    if path == "/_sim/faults":
        if method == "POST":
            app.faults.configure(*payload.get("rules", []), seed=payload.get("seed"))
        elif method == "DELETE":
            app.faults.clear()
        return {"rules": [r.to_dict() for r in app.faults.rules]}
    if route == ("POST", "/_sim/revoke"):
        return {"revoked": app.tokens.revoke_all()}
    if path == "/_sim/stats":
        if method == "DELETE":
            app.stats.reset()
        return app.stats.snapshot()
    if route == ("POST", "/_sim/config"):
        app.update_config(**payload)
        return {k: str(v) for k, v in vars(app.config).items() if k != "clients"}
    if route == ("POST", "/_sim/ground_truth"):
        start = to_ms(parse_time(payload["start"]))
        end = to_ms(parse_time(payload["end"]))
        filters = {
            "segment_filters": payload.get("segmentFilters"),
            "conversation_filters": payload.get("conversationFilters"),
        }
        if payload.get("idsOnly"):
            rows = app.ground_truth_rows(start, end, **filters)
            return {"count": len(rows), "conversationIds": [r.conversation_id for r in rows]}
        convs = app.ground_truth(start, end, **filters)
        return {"count": len(convs), "conversations": convs}
    if route == ("POST", "/_sim/open_conversations"):
        start, end = to_ms(parse_time(payload["start"])), to_ms(parse_time(payload["end"]))
        ids = [r.conversation_id for r in app.open_rows(start, end)]
        return {"count": len(ids), "conversationIds": ids}
    if route == ("POST", "/_sim/conversations"):
        convs = app.conversations_by_id(list(dict.fromkeys(payload["ids"])))
        return {"count": len(convs), "conversations": convs}
    if route == ("POST", "/_sim/warm"):
        start, end = to_ms(parse_time(payload["start"])), to_ms(parse_time(payload["end"]))
        return {"warmed": app.warm(start, end, bool(payload.get("attributes")))}
    if path.startswith("/_sim/jobs"):
        return _jobs(app.jobs, method, path, payload)
    raise ApiError(404, "not.found", f"No control route {method} {path}")


def _jobs(jobs: JobStore, method: str, path: str, payload: Any) -> Any:
    parts = path.split("/")  # ["", "_sim", "jobs", id?, "state"?]
    if (method, path) == ("POST", "/_sim/jobs"):
        jobs.script(list(payload.get("outcomes", [])))
        return {"ok": True}
    if (method, path) == ("POST", "/_sim/jobs/ground_truth"):
        body = {k: payload[k] for k in _JOB_BODY_FIELDS if k in payload}
        avail = iso(to_ms(jobs.availability()))
        if payload.get("idsOnly"):
            ids = jobs.ground_truth_ids(payload["start"], payload["end"], **body)
            return {"count": len(ids), "conversationIds": ids, "dataAvailabilityDate": avail}
        convs = jobs.ground_truth(payload["start"], payload["end"], **body)
        return {"count": len(convs), "conversations": convs, "dataAvailabilityDate": avail}
    if method == "POST" and len(parts) == 5 and parts[4] == "state":
        jobs.set_state(parts[3], payload["state"])
        return {"ok": True}
    if method == "GET" and len(parts) == 4:
        job = jobs.get(parts[3])
        ids = job.ids
        return {
            "jobId": job.job_id,
            "client": job.client,
            "count": len(ids),
            "conversationIds": ids,
            "viewDate": iso(job.view_ms),
            "dataAvailabilityDate": iso(job.available_ms),
            "polls": job.polls,
        }
    raise ApiError(404, "not.found", f"No control route {method} {path}")
