"""``/_sim/*`` control endpoint: drive a running simulator from another process."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from genesys_sim.config import parse_time
from genesys_sim.data import iso, to_ms
from genesys_sim.errors import ApiError, correlation_id, error_body

if TYPE_CHECKING:
    from genesys_sim.api import Response, SimApp


def handle_control(app: SimApp, method: str, path: str, body: bytes) -> Response:
    from genesys_sim.api import Response, _json

    try:
        payload: Any = json.loads(body) if body else {}
        result = _dispatch(app, method, path, payload)
        return Response(200, _json(result))
    except ApiError as err:
        return Response(err.status, _json(err.body(correlation_id())))
    except (ValueError, TypeError, KeyError) as exc:
        return Response(400, _json(error_body(400, "bad.request", f"{path}: {exc}",
                                              correlation_id())))


def _dispatch(app: SimApp, method: str, path: str, payload: Any) -> Any:
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
        filters = {"segment_filters": payload.get("segmentFilters"),
                   "conversation_filters": payload.get("conversationFilters")}
        if payload.get("idsOnly"):
            rows = app.ground_truth_rows(start, end, **filters)
            return {"count": len(rows), "conversationIds": [r[13] for r in rows]}
        convs = app.ground_truth(start, end, **filters)
        return {"count": len(convs), "conversations": convs}
    if route == ("POST", "/_sim/warm"):
        start, end = to_ms(parse_time(payload["start"])), to_ms(parse_time(payload["end"]))
        return {"warmed": app.warm(start, end)}
    if route == ("POST", "/_sim/jobs"):
        app.jobs.script(list(payload.get("outcomes", [])))
        return {"ok": True}
    if method == "POST" and path.startswith("/_sim/jobs/") and path.endswith("/state"):
        app.jobs.set_state(path.split("/")[3], payload["state"])
        return {"ok": True}
    raise ApiError(404, "not.found", f"No control route {method} {path}")
