"""Deterministic, lazy conversation data: the days of skeleton rows (``skeleton.py``) built on
demand and kept (LRU), their timing, participant plan and filter views; records are rendered
(``records.py``) only for conversations actually served, as seen at a simulated "now".
The skeleton names are re-exported here for the rest of the simulator.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from datetime import date
from typing import Any

from genesys_sim.config import SimConfig
from genesys_sim.org import OrgHistory
from genesys_sim.records import render as render_record
from genesys_sim.skeleton import (
    DAY_MS,
    DIRECTIONS,
    MAX_SPAN_DAYS,
    MEDIA,
    SYSTEM_WRAPUP,
    WEEKDAY_FACTOR,
    Agent,
    Entities,
    Plan,
    Queue,
    Row,
    Segment,
    day_of,
    day_start_ms,
    days_touched,
    generate_day,
    iso,
    new_uuid,
    stretch,
    to_ms,
)


class DataSet:
    """Lazy per-day skeletons plus record rendering, with bounded caches."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.entities = Entities.generate(config.seed)
        self.org = OrgHistory.generate(
            config.seed,
            len(self.entities.users),
            len(self.entities.queues),
            to_ms(config.start_dt),
            self.max_span_days * DAY_MS,
        )
        self._days: OrderedDict[date, list[Row]] = OrderedDict()
        self._lock = threading.Lock()
        self._day_locks: dict[date, threading.Lock] = {}

    # ----------------------------------------------------------------- skeletons
    def volume(self, day: date) -> int:
        hot = self.config.hot_days.get(day.isoformat())
        if hot is not None:
            return int(hot)
        rng = random.Random(f"genesys-sim:{self.config.seed}:{day.isoformat()}:volume")
        factor = WEEKDAY_FACTOR[day.weekday()] / (sum(WEEKDAY_FACTOR) / 7)
        return round(self.config.conversations_per_day * factor * (0.9 + 0.2 * rng.random()))

    def day(self, day: date) -> list[Row]:
        """All conversations starting on ``day`` (UTC), sorted by start (unfiltered by clock)."""
        with self._lock:
            rows = self._days.get(day)
            if rows is not None:
                self._days.move_to_end(day)
                return rows
            day_lock = self._day_locks.setdefault(day, threading.Lock())
        with day_lock:
            with self._lock:
                rows = self._days.get(day)
            if rows is None:
                rows = generate_day(
                    self.config.seed, day, self.volume(day), self.entities, self.org
                )
                if self.config.long_conversation_fraction > 0:
                    rows = stretch(
                        rows,
                        self.config.long_conversation_fraction,
                        self.config.long_conversation_max_days,
                    )
                with self._lock:
                    self._days[day] = rows
                    while len(self._days) > 64:
                        self._days.popitem(last=False)
        return rows

    @property
    def max_span_days(self) -> int:
        """No conversation lasts longer than this many days (jobs' activity-overlap lookback)."""
        if self.config.long_conversation_fraction > 0:
            return max(MAX_SPAN_DAYS, self.config.long_conversation_max_days + 2)
        return MAX_SPAN_DAYS

    def in_range(self, start_ms: int) -> bool:
        if start_ms < to_ms(self.config.start_dt):
            return False
        end = self.config.end_dt
        return end is None or start_ms < to_ms(end)

    # ------------------------------------------------------------- derived timing
    @staticmethod
    def answer_ms(row: Row) -> int:
        return row.start + row.ivr + row.wait

    @staticmethod
    def end_ms(row: Row) -> int:
        return row.start + row.ivr + row.wait + row.talk

    def wrap_visible_ms(self, row: Row) -> int | None:
        """When the wrap-up segment becomes visible (None: no agent, no wrap-up)."""
        if row.user < 0:
            return None
        done = self.end_ms(row) + row.acw
        fraction = self.config.late_wrapup_fraction
        if fraction > 0 and row.late < fraction:
            delay = self.config.late_wrapup_delay_s * 1000
            done += int(delay * (0.5 + row.late / fraction))
        return done

    def final_ms(self, row: Row) -> int:
        """From this instant on the record no longer changes."""
        wrap = self.wrap_visible_ms(row)
        return max(self.end_ms(row), wrap or 0)

    # ------------------------------------------------------------------ plan
    def plan(self, row: Row) -> Plan:
        """Participants and their segments, without decoration.

        The wrap-up segment's ``start`` is its visibility instant handled by ``visible_segments``.
        """
        ents = self.entities
        start, ivr, answer, end = row.start, row.ivr, self.answer_ms(row), self.end_ms(row)
        queue_id = ents.queues[row.queue].id
        outbound = row.direction == 1
        abandoned = row.user < 0
        parts: Plan = []
        cust_start = answer if outbound else start
        customer_end = "peer" if abandoned or row.seed % 2 else "endpoint"
        parts.append(("customer", [Segment("interact", cust_start, end, customer_end, None, None)]))
        if ivr:
            parts.append(("ivr", [Segment("ivr", start, start + ivr, "transfer", None, None)]))
        if not outbound:
            acd_end = "peer" if abandoned else "transfer"
            parts.append(
                ("acd", [Segment("interact", start + ivr, answer, acd_end, queue_id, None)])
            )
        if not abandoned:
            segs: list[Segment] = []
            if outbound:
                segs.append(Segment("dialing", start, answer, None, queue_id, None))
            else:
                alert = min(row.wait, 3_000 + row.seed % 12_000)
                segs.append(Segment("alert", answer - alert, answer, None, queue_id, None))
            hold = MEDIA[row.media] == "voice" and (row.seed >> 3) % 4 == 0
            if hold:
                talk = row.talk
                h1 = answer + talk * (2 + (row.seed >> 5) % 4) // 10
                h2 = h1 + talk // 10
                segs.append(Segment("interact", answer, h1, None, queue_id, None))
                segs.append(Segment("hold", h1, h2, None, queue_id, None))
                segs.append(Segment("interact", h2, end, "client", queue_id, None))
            else:
                segs.append(Segment("interact", answer, end, "client", queue_id, None))
            wrap_code = ents.wrapups[row.wrapup]
            segs.append(Segment("wrapup", end, end + row.acw, None, queue_id, wrap_code))
            parts.append(("agent", segs))
        return parts

    def visible_segments(self, row: Row, now_ms: int, plan: Plan | None = None) -> Plan:
        """The plan as seen at ``now_ms`` (only segments that have started; wrap-up when due).
        ``plan``: the row's plan, when the caller has it already."""
        wrap_at = self.wrap_visible_ms(row)
        wrap_seen = wrap_at is not None and now_ms >= wrap_at
        out = []
        for purpose, segs in self.plan(row) if plan is None else plan:
            seen = [
                s for s in segs if (wrap_seen if s.segment_type == "wrapup" else s.start <= now_ms)
            ]
            if seen:
                out.append((purpose, seen))
        return out

    def segment_dims(self, row: Row, now_ms: int) -> list[dict[str, str | None]]:
        """Fast filter view: one dict of common dimensions per visible segment."""
        ents = self.entities
        media = MEDIA[row.media]
        direction = DIRECTIONS[row.direction]
        user_id = ents.users[row.user].id if row.user >= 0 else None
        dims = []
        for purpose, segs in self.visible_segments(row, now_ms):
            for seg_type, _s, seg_end, disc, queue_id, wrap in segs:
                ended = seg_end <= now_ms or seg_type == "wrapup"
                dims.append(
                    {
                        "purpose": purpose,
                        "mediaType": media,
                        "direction": direction,
                        "segmentType": seg_type,
                        "queueId": queue_id,
                        "userId": user_id if purpose == "agent" else None,
                        "wrapUpCode": wrap,
                        "disconnectType": disc if ended else None,
                    }
                )
        return dims

    def conversation_dims(self, row: Row, now_ms: int) -> dict[str, str | None]:
        outbound = row.direction == 1
        return {
            "conversationId": row.conversation_id,
            "originatingDirection": DIRECTIONS[row.direction],
            "divisionId": self.entities.divisions[row.division],
            "conversationInitiator": "agent" if outbound else "customer",
            "customerParticipation": "true",
            "conversationStart": iso(row.start),
            "conversationEnd": iso(self.end_ms(row)) if self.end_ms(row) <= now_ms else None,
        }

    # ---------------------------------------------------------------- render
    def render(self, row: Row, now_ms: int, with_attributes: bool = False) -> dict[str, Any]:
        """The full conversation detail record as the API returns it at ``now_ms``."""
        return render_record(self, row, now_ms, with_attributes)


__all__ = [
    "DAY_MS",
    "DIRECTIONS",
    "MAX_SPAN_DAYS",
    "MEDIA",
    "SYSTEM_WRAPUP",
    "WEEKDAY_FACTOR",
    "Agent",
    "DataSet",
    "Entities",
    "Plan",
    "Queue",
    "Row",
    "Segment",
    "day_of",
    "day_start_ms",
    "days_touched",
    "generate_day",
    "iso",
    "new_uuid",
    "stretch",
    "to_ms",
]
