"""Expected rows of every stream, computed from the simulator's ground truth (test helper)."""

from __future__ import annotations

from typing import Any

#: the key columns of each table the tap writes
KEYS: dict[str, list[str]] = {
    "conversation_details": ["conversationId"],
    "conversation_participants": ["conversationId", "participantId"],
    "conversation_sessions": ["conversationId", "participantId", "sessionId"],
    "conversation_segments": [
        "conversationId",
        "participantId",
        "sessionId",
        "segmentStart",
        "segmentType",
    ],
    "conversation_session_metrics": [
        "conversationId",
        "participantId",
        "sessionId",
        "name",
        "emitDate",
    ],
    "user_presence": ["userId", "startTime"],
    "user_routing_status": ["userId", "startTime"],
}
#: tap stream -> simulator reference table
SIM_TABLES = {
    "users": "users",
    "routing_queues": "queues",
    "routing_wrapup_codes": "wrapupcodes",
    "routing_skills": "skills",
    "routing_languages": "languages",
    "divisions": "divisions",
    "groups": "groups",
    "presence_definitions": "presence_definitions",
    "flows": "flows",
}


def child_rows(conversations: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    """The rows of a conversation child table, as the tap writes them."""
    out = []
    for c in conversations:
        base = {"conversationId": c["conversationId"], "conversationStart": c["conversationStart"]}
        for p in c.get("participants", []):
            if stream == "conversation_participants":
                out.append({**base, **{k: v for k, v in p.items() if k != "sessions"}})
            for s in p.get("sessions", []):
                ids = {**base, "participantId": p["participantId"], "sessionId": s["sessionId"]}
                if stream == "conversation_sessions":
                    out.append(
                        {**ids, **{k: v for k, v in s.items() if k not in ("segments", "metrics")}}
                    )
                key = {
                    "conversation_segments": "segments",
                    "conversation_session_metrics": "metrics",
                }.get(stream)
                if key:
                    out.extend({**ids, **item} for item in s.get(key, []))
    return out


def status_keys(users: list[dict[str, Any]], key: str, start: str, end: str) -> set[tuple]:
    """(userId, startTime) of the periods in list ``key`` that start in [start, end)."""
    return {
        (u["userId"], p["startTime"])
        for u in users
        for p in u.get(key, [])
        if start <= p["startTime"] < end
    }
