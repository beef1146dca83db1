"""Reference tables (the ``*EntityListing`` endpoints) built from the org of the seed.

Every id a conversation record or a status period can carry resolves here: users (also the
agents who left: ``deleted``/``inactive``, see ``org.py``), queues (closed ones stay listed
with no members), wrap-up codes (except the system value ``ININ-WRAP-UP-TIMEOUT``), skills and
languages (``requestedRoutingSkillIds`` / ``requestedLanguageId`` of ``acd`` segments, one of each
``deleted``), divisions, flows, groups and the presence definitions (``organizationPresenceId``).
Tables are a function of the simulated clock only through the departures (state, members).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from genesys_sim.config import SimConfig
from genesys_sim.data import SYSTEM_WRAPUP, DataSet, iso, new_uuid
from genesys_sim.errors import bad_request, invalid_value
from genesys_sim.org import DELETED_LANGUAGE, DELETED_SKILL

#: table name -> list path
LIST_PATHS = {
    "users": "/api/v2/users",
    "queues": "/api/v2/routing/queues",
    "wrapupcodes": "/api/v2/routing/wrapupcodes",
    "skills": "/api/v2/routing/skills",
    "languages": "/api/v2/routing/languages",
    "divisions": "/api/v2/authorization/divisions",
    "groups": "/api/v2/groups",
    "presence_definitions": "/api/v2/presence/definitions",
    "flows": "/api/v2/flows",
}
PATH_TABLES = {path: name for name, path in LIST_PATHS.items()}
USER_STATES = ["active", "inactive", "deleted", "any"]
SORT_ORDERS = ["ascending", "descending", "asc", "desc"]

DIVISION_NAMES = ("Home", "Sales", "Service")
WRAPUP_NAMES = (
    "Resolved",
    "Resolved - first contact",
    "Follow-up required",
    "Escalated",
    "Transferred",
    "Billing question",
    "Payment arrangement",
    "Refund issued",
    "Order placed",
    "Order status",
    "Return authorised",
    "Technical issue",
    "Password reset",
    "Account update",
    "Cancellation",
    "Retention offer accepted",
    "Retention offer declined",
    "Complaint",
    "Callback scheduled",
    "Wrong number",
    "Spam",
    "No answer",
    "Voicemail left",
    "Other",
)
GROUP_NAMES = (
    "All Agents",
    "Team Leads",
    "Night Shift",
    "Spanish Speakers",
    "Tier 2",
    "Quality Reviewers",
)
#: (key used by status periods, name, type, systemPresence of the definition)
PRESENCES = (
    ("AVAILABLE", "Available", "System", "Available"),
    ("AWAY", "Away", "System", "Away"),
    ("BUSY", "Busy", "System", "Busy"),
    ("OFFLINE", "Offline", "System", "Offline"),
    ("IDLE", "Idle", "System", "Idle"),
    ("ON_QUEUE", "On Queue", "System", "OnQueue"),
    ("MEAL", "Meal", "System", "Meal"),
    ("TRAINING", "Training", "System", "Training"),
    ("MEETING", "Meeting", "System", "Meeting"),
    ("BREAK", "Break", "System", "Break"),
    ("LUNCH", "Lunch", "User", "Meal"),  # org-defined: meal breaks of the status history
    ("COACHING", "Coaching", "User", "Training"),
)


class ReferenceTables:
    """The full tables (``table``) and one page of a listing (``listing``)."""

    def __init__(self, data: DataSet) -> None:
        self.data = data
        rng = random.Random(f"genesys-sim:{data.config.seed}:reference")
        self.presence_ids = {key: new_uuid(rng) for key, *_ in PRESENCES}
        self.group_ids = [new_uuid(rng) for _ in GROUP_NAMES]
        self._created = iso(_ms_of(data.config) - 400 * 86_400_000)

    # ------------------------------------------------------------------ tables
    def table(self, name: str, now_ms: int) -> list[dict[str, Any]]:
        """Every entity of ``name`` at ``now_ms`` (users: all states), in listing order."""
        build = getattr(self, f"_{name}", None)
        if name not in LIST_PATHS or build is None:
            raise KeyError(f"unknown reference table {name!r} (one of {', '.join(LIST_PATHS)})")
        rows: list[dict[str, Any]] = build(now_ms)
        return rows

    def _division_ref(self, index: int) -> dict[str, str]:
        div = self.data.entities.divisions[index]
        return {
            "id": div,
            "name": DIVISION_NAMES[index],
            "selfUri": f"/api/v2/authorization/divisions/{div}",
        }

    def _users(self, now_ms: int) -> list[dict[str, Any]]:
        out = []
        for i, (uid, name, _team) in enumerate(self.data.entities.users):
            login = name.lower().replace(" ", ".")
            out.append(
                {
                    "id": uid,
                    "name": name,
                    "division": self._division_ref(i % 3),
                    "email": f"{login}@example-org.com",
                    "state": self.data.org.user_state(i, now_ms),
                    "title": "Team Lead" if i % 25 == 0 else "Agent",
                    "username": f"{login}@example-org.com",
                    "version": 1 + i % 4,
                    "selfUri": f"/api/v2/users/{uid}",
                }
            )
        return sorted(out, key=lambda u: (u["name"], u["id"]))

    def _queues(self, now_ms: int) -> list[dict[str, Any]]:
        out = []
        org = self.data.org
        for i, (qid, name, div) in enumerate(self.data.entities.queues):
            active = org.queue_active(i, now_ms)
            members = 8 + (i * 7) % 23 if active else 0
            queue: dict[str, Any] = {
                "id": qid,
                "name": name,
                "division": self._division_ref(div),
                "description": f"{name} queue"
                if active
                else f"{name} queue (inactive since {iso(org.queues_closed[i].at_ms)[:10]})",
                "dateCreated": self._created,
                "dateModified": self._created,
                "memberCount": members,
                "userMemberCount": members,
                "joinedMemberCount": members * 3 // 4,
                "skillEvaluationMethod": "ALL",
                "selfUri": f"/api/v2/routing/queues/{qid}",
            }
            if not active:
                queue["dateModified"] = iso(org.queues_closed[i].at_ms)
            out.append(queue)
        return sorted(out, key=lambda q: (q["name"], q["id"]))

    def _wrapupcodes(self, now_ms: int) -> list[dict[str, Any]]:
        codes = [c for c in self.data.entities.wrapups if c != SYSTEM_WRAPUP]
        out = [
            {
                "id": cid,
                "name": WRAPUP_NAMES[i % len(WRAPUP_NAMES)],
                "division": {**self._division_ref(i % 3)},
                "dateCreated": self._created,
                "selfUri": f"/api/v2/routing/wrapupcodes/{cid}",
            }
            for i, cid in enumerate(codes)
        ]
        return sorted(out, key=lambda w: (w["name"], w["id"]))

    def _skills(self, now_ms: int) -> list[dict[str, Any]]:
        out = [
            {
                "id": sid,
                "name": name,
                "division": self._division_ref(0),
                "dateModified": self._created,
                "state": "deleted" if i == DELETED_SKILL else "active",
                "version": "1",
                "selfUri": f"/api/v2/routing/skills/{sid}",
            }
            for i, (sid, name) in enumerate(self.data.org.skills)
        ]
        return sorted(out, key=lambda s: (s["name"], s["id"]))

    def _languages(self, now_ms: int) -> list[dict[str, Any]]:
        out = [
            {
                "id": lid,
                "name": name,
                "dateModified": self._created,
                "state": "deleted" if i == DELETED_LANGUAGE else "active",
                "version": "1",
                "selfUri": f"/api/v2/routing/languages/{lid}",
            }
            for i, (lid, name) in enumerate(self.data.org.languages)
        ]
        return sorted(out, key=lambda s: (s["name"], s["id"]))

    def _divisions(self, now_ms: int) -> list[dict[str, Any]]:
        return [
            {
                **self._division_ref(i),
                "description": f"{DIVISION_NAMES[i]} division",
                "homeDivision": i == 0,
            }
            for i in range(len(self.data.entities.divisions))
        ]

    def _groups(self, now_ms: int) -> list[dict[str, Any]]:
        n_users = len(self.data.entities.users)
        return [
            {
                "id": gid,
                "name": name,
                "description": f"{name} group",
                "dateModified": self._created,
                "memberCount": n_users if i == 0 else 5 + 7 * i,
                "state": "active",
                "version": 1,
                "type": "official",
                "rulesVisible": True,
                "visibility": "public",
                "selfUri": f"/api/v2/groups/{gid}",
            }
            for i, (gid, name) in enumerate(zip(self.group_ids, GROUP_NAMES, strict=True))
        ]

    def _presence_definitions(self, now_ms: int) -> list[dict[str, Any]]:
        home = self.data.entities.divisions[0]
        return [
            {
                "id": self.presence_ids[key],
                "name": name,
                "type": kind,
                "languageLabels": {"en_US": name},
                "systemPresence": system,
                "divisionId": home,
                "deactivated": False,
                "selfUri": f"/api/v2/presence/definitions/{self.presence_ids[key]}",
            }
            for key, name, kind, system in PRESENCES
        ]

    def _flows(self, now_ms: int) -> list[dict[str, Any]]:
        out = [
            {
                "id": fid,
                "name": name,
                "division": self._division_ref(0),
                "description": f"{name} flow",
                "type": kind,
                "active": True,
                "system": False,
                "deleted": False,
                "selfUri": f"/api/v2/flows/{fid}",
            }
            for kind, (fid, name) in self.data.entities.flows.items()
        ]
        return sorted(out, key=lambda f: (f["name"], f["id"]))

    # ------------------------------------------------------------------ listing
    def listing(self, name: str, params: Mapping[str, str], now_ms: int) -> dict[str, Any]:
        """One page of ``GET LIST_PATHS[name]`` with the query ``params`` (raises ApiError)."""
        cfg = self.data.config
        rows = self.table(name, now_ms)
        keep: dict[str, str] = {}
        rows = self._filter(name, rows, params, keep)
        if params.get("sortOrder", "").lower() in ("descending", "desc"):
            rows = rows[::-1]
        path = LIST_PATHS[name]
        if name == "presence_definitions":  # OrganizationPresenceDefinitionEntityListing: no paging
            return {
                "total": len(rows),
                "entities": rows,
                "selfUri": path + (f"?{urlencode(keep)}" if keep else ""),
            }
        size = _int_param(params, "pageSize", cfg.list_default_page_size)
        number = _int_param(params, "pageNumber", 1)
        if not 1 <= size <= cfg.list_max_page_size:
            raise bad_request(
                f"pageSize must be between 1 and {cfg.list_max_page_size}.",
                "bad.request",
                "pageSize",
            )
        if number < 1:
            raise bad_request("pageNumber must be 1 or greater.", "bad.request", "pageNumber")
        if cfg.list_max_results and size * number > cfg.list_max_results:
            raise bad_request(
                f"Paging may not exceed {cfg.list_max_results} results (pageSize x pageNumber).",
                "bad.request",
                "pageNumber",
            )
        total = len(rows)
        count = max(1, math.ceil(total / size))

        def uri(page: int) -> str:
            return f"{path}?{urlencode({'pageSize': size, 'pageNumber': page, **keep})}"

        body: dict[str, Any] = {
            "entities": rows[(number - 1) * size : number * size],
            "pageSize": size,
            "pageNumber": number,
            "total": total,
            "firstUri": uri(1),
            "selfUri": uri(number),
            "lastUri": uri(count),
            "pageCount": count,
        }
        if number < count:
            body["nextUri"] = uri(number + 1)
        if 1 < number <= count + 1:
            body["previousUri"] = uri(number - 1)
        return body

    def _filter(
        self, name: str, rows: list[dict[str, Any]], params: Mapping[str, str], keep: dict[str, str]
    ) -> list[dict[str, Any]]:
        if "sortOrder" in params:
            _choice(params["sortOrder"], SORT_ORDERS, "sortOrder")
            keep["sortOrder"] = params["sortOrder"]
        if name == "users":
            state = _choice(params.get("state", "active"), USER_STATES, "state")
            if "state" in params:
                keep["state"] = state
            if state == "any":
                allowed = {"active", "inactive"}
                if self.data.config.users_any_includes_deleted:
                    allowed.add("deleted")
                return [u for u in rows if u["state"] in allowed]
            return [u for u in rows if u["state"] == state]
        if name in ("queues", "wrapupcodes") and params.get("divisionId"):
            wanted = set(params["divisionId"].split(","))
            keep["divisionId"] = params["divisionId"]
            return [r for r in rows if r["division"]["id"] in wanted]
        if name == "skills" and params.get("name"):
            keep["name"] = params["name"]
            return [r for r in rows if _name_matches(r["name"], params["name"])]
        if name == "flows":
            if params.get("type"):
                keep["type"] = params["type"]
                kinds = {t.upper() for t in params["type"].split(",")}
                rows = [r for r in rows if r["type"] in kinds]
            if "deleted" in params:
                keep["deleted"] = params["deleted"]
                deleted = _choice(params["deleted"].lower(), ["true", "false"], "deleted")
                rows = [r for r in rows if r["deleted"] == (deleted == "true")]
            return rows
        return rows


def _ms_of(config: SimConfig) -> int:
    return int(config.start_dt.timestamp() * 1000)


def _name_matches(value: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return value.lower().startswith(pattern[:-1].lower())
    return value.lower() == pattern.lower()


def _choice(value: str, allowed: list[str], field: str) -> str:
    if value not in allowed:
        raise invalid_value(value, "string", allowed, field)
    return value


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    if name not in params:
        return default
    try:
        return int(params[name])
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer.", "bad.request", name) from exc
