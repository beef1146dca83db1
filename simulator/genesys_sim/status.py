"""Agent status history (presence and routing status periods) derived from the conversations.

Each agent's day is cut at a per-agent **shift boundary** ``h_u`` = 02:00-05:00 UTC (by user
index); a shift day ``[D + h_u, D + 1 day + h_u)`` is computed independently (lazily, cached per
UTC day ``D`` for all agents) from the skeletons of the conversations the agent handled that
overlap it, so a period never depends on data outside its shift day and every query sees the same
periods. Periods do cross midnight and query windows; they are split only at the shift boundary.

Within a shift day the agent's busy intervals (first agent segment - alert or dialing - to the
end of after-call work) are merged; intervals closer than ``SESSION_GAP_MS`` form one logged-in
session:

- before the session: presence ``OFFLINE`` / routing ``OFF_QUEUE``; login 2-15 min before the
  first busy instant (``AVAILABLE`` / ``OFF_QUEUE`` for 30-120 s, then ``ON_QUEUE`` / ``IDLE``);
- busy: ``ON_QUEUE`` / ``INTERACTING``; between busy intervals ``ON_QUEUE`` / ``IDLE``, some
  ``NOT_RESPONDING`` for 15 s shortly before an offer, and in gaps of 45 min or more a break
  (``BREAK`` 15 min, org-defined "Lunch" = ``MEAL`` 30 min, "Coaching" = ``TRAINING`` 45 min) with
  routing ``OFF_QUEUE``;
- logout 1-10 min after the last busy instant (``OFFLINE`` / ``OFF_QUEUE``). A day without
  conversations is one ``OFFLINE`` / ``OFF_QUEUE`` period.

Nothing exists before ``data_start``, after ``data_end`` or after an agent's departure
(``org.py``). ``COMMUNICATING`` (non-ACD work) and the other presences are not generated.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from typing import NamedTuple

from genesys_sim.cache import LRU
from genesys_sim.data import (
    DAY_MS,
    DataSet,
    Row,
    day_of,
    day_start_ms,
    to_ms,
)

SESSION_GAP_MS = 4 * 3_600_000
MERGE_GAP_MS = 1_000
BREAK_GAP_MS = 45 * 60_000
#: presence code -> (systemPresence, presence definition key of reference.PRESENCES)
PRESENCE = {
    "OFFLINE": ("OFFLINE", "OFFLINE"),
    "AVAILABLE": ("AVAILABLE", "AVAILABLE"),
    "ON_QUEUE": ("ON_QUEUE", "ON_QUEUE"),
    "BREAK": ("BREAK", "BREAK"),
    "LUNCH": ("MEAL", "LUNCH"),
    "COACHING": ("TRAINING", "COACHING"),
}


class Period(NamedTuple):
    """One presence or routing-status period."""

    start: int  # ms since epoch
    end: int  # ms since epoch (planned, for an open period)
    code: str  # PRESENCE key or routing status


#: an agent's busy time: (start, end), ms since epoch (plain pairs: 150,000 a day are cached)
Span = tuple[int, int]
#: a change point of the timeline: (from this instant on, presence code, routing status)
Point = tuple[int, str, str]
DayPeriods = dict[int, tuple[list[Period], list[Period]]]  # user -> (presence, routing)


def shift_offset_ms(user: int) -> int:
    """The agent's shift boundary after midnight UTC (02:00-05:00)."""
    return (2 + user % 4) * 3_600_000


def busy_interval(data: DataSet, row: Row) -> Span:
    """The agent's busy time of one conversation: first agent segment to end of ACW."""
    if row.direction == 1:  # outbound: dialing from the start
        first = row.start
    else:  # alerting (same length as data.DataSet.plan's alert segment)
        first = data.answer_ms(row) - min(row.wait, 3_000 + row.seed % 12_000)
    return first, data.end_ms(row) + row.acw


class StatusHistory:
    """Presence and routing-status periods per agent, lazily per UTC day, cached."""

    def __init__(self, data: DataSet) -> None:
        self.data = data
        self._days = LRU(max_items=64)
        self._busy = LRU(max_items=16)

    # ------------------------------------------------------------------ per day
    def day(self, day_index: int) -> DayPeriods:
        """All agents' periods of the shift days that start on UTC day ``day_index``."""
        cached = self._days.get(day_index)
        if cached is None:
            cached = self._build(day_index)
            self._days.put(day_index, cached)
        return cached

    def _busy_of_day(self, day: date) -> dict[int, list[Span]]:
        """Busy intervals per agent of the conversations that started on ``day`` (cached)."""
        cached = self._busy.get(day)
        if cached is not None:
            return cached
        data, cfg = self.data, self.data.config
        origin = to_ms(cfg.start_dt)
        stop = to_ms(cfg.end_dt) if cfg.end_dt is not None else 1 << 62
        busy: dict[int, list[Span]] = defaultdict(list)
        for row in data.day(day):
            start = row.start
            if row.user >= 0 and origin <= start < stop:
                busy[row.user].append(busy_interval(data, row))
        self._busy.put(day, busy)
        return busy

    def _build(self, day_index: int) -> DayPeriods:
        data, cfg = self.data, self.data.config
        d0 = day_index * DAY_MS
        lo, hi = d0 + shift_offset_ms(0) - 3_600_000, d0 + DAY_MS + 6 * 3_600_000
        first_day = day_of(d0 - data.max_span_days * DAY_MS)
        days = [
            self._busy_of_day(first_day + timedelta(days=k))
            for k in range((day_of(hi) - first_day).days + 1)
        ]
        origin = to_ms(cfg.start_dt)
        end = to_ms(cfg.end_dt) if cfg.end_dt is not None else None
        out: DayPeriods = {}
        for user in range(len(data.entities.users)):
            w0 = max(d0 + shift_offset_ms(user), origin)
            w1 = d0 + shift_offset_ms(user) + DAY_MS
            if end is not None:
                w1 = min(w1, end)
            dep = data.org.users_gone.get(user)
            if dep is not None:
                w1 = min(w1, dep.at_ms)
            if w1 <= w0:
                continue
            rng = random.Random(f"genesys-sim:{cfg.seed}:status:{user}:{day_index}")
            mine = [(s, e) for day in days for s, e in day.get(user, ()) if e > lo and s < hi]
            points = _timeline(_merge(mine, w0, w1), w0, w1, rng)
            out[user] = (
                _periods([(at, presence) for at, presence, _r in points], w1),
                _periods([(at, routing) for at, _p, routing in points], w1),
            )
        return out

    # ------------------------------------------------------------------ queries
    def periods(
        self, user: int, start_ms: int, end_ms: int, now_ms: int
    ) -> tuple[list[Period], list[Period]]:
        """Periods of ``user`` overlapping [start, end) visible at ``now_ms``, by start time.

        An open period (``end > now``) keeps its planned end here; callers omit ``endTime``.
        """
        presence: list[Period] = []
        routing: list[Period] = []
        first = day_of(start_ms - DAY_MS)
        last = day_of(min(end_ms, now_ms + 1))
        for k in range((last - first).days + 1):
            d = day_start_ms(first + timedelta(days=k)) // DAY_MS
            day = self.day(d).get(user)
            if day is None:
                continue
            for src, dst in zip(day, (presence, routing), strict=True):
                dst.extend(p for p in src if _visible(p, start_ms, end_ms, now_ms))
        return presence, routing


def _visible(p: Period, start_ms: int, end_ms: int, now_ms: int) -> bool:
    s, e, _code = p
    if s >= end_ms or s > now_ms:
        return False
    return min(e, now_ms) > start_ms or s >= start_ms


def _merge(intervals: list[Span], w0: int, w1: int) -> list[Span]:
    merged: list[Span] = []
    for start, stop in sorted(intervals):
        s, e = max(start, w0), min(stop, w1)
        if e <= s:
            continue
        if merged:
            last_start, last_end = merged[-1]
            if s <= last_end + MERGE_GAP_MS:
                merged[-1] = (last_start, max(last_end, e))
                continue
        merged.append((s, e))
    return merged


def _timeline(busy: list[Span], w0: int, w1: int, rng: random.Random) -> list[Point]:
    """Change points covering [w0, w1)."""
    points: list[Point] = [(w0, "OFFLINE", "OFF_QUEUE")]

    def add(t: int, presence: str, routing: str) -> None:
        if t >= w1:
            return
        last, _presence, _routing = points[-1]
        if last >= t:
            points[-1] = (last, presence, routing)
        else:
            points.append((t, presence, routing))

    sessions: list[list[Span]] = []
    last_end = 0
    for span in busy:
        start, end = span
        if sessions and start - last_end <= SESSION_GAP_MS:
            sessions[-1].append(span)
        else:
            sessions.append([span])
        last_end = end
    for session in sessions:
        first, _end = session[0]
        pre, avail = rng.randint(120_000, 900_000), rng.randint(30_000, 120_000)
        post = rng.randint(60_000, 600_000)
        prev_end = first
        if first > w0:
            login = max(w0, first - pre)
            on_queue = min(login + avail, first)
            if on_queue > login:
                add(login, "AVAILABLE", "OFF_QUEUE")
            add(on_queue, "ON_QUEUE", "IDLE")
            prev_end = on_queue
        for k, (s, e) in enumerate(session):
            if rng.random() < 0.08 and s - prev_end >= 90_000:
                add(s - 60_000, "ON_QUEUE", "NOT_RESPONDING")
                add(s - 45_000, "ON_QUEUE", "IDLE")
            add(s, "ON_QUEUE", "INTERACTING")
            add(e, "ON_QUEUE", "IDLE")
            prev_end = e
            if k + 1 < len(session):
                next_start, _next_end = session[k + 1]
                gap = next_start - e
                pick = rng.random()
                if gap >= BREAK_GAP_MS:
                    kind, length = "BREAK", 15 * 60_000
                    if gap >= 2 * 3_600_000 and pick < 0.3:
                        kind, length = "COACHING", 45 * 60_000
                    elif gap >= 90 * 60_000 and pick < 0.6:
                        kind, length = "LUNCH", 30 * 60_000
                    at = e + (gap - length) // 2
                    add(at, kind, "OFF_QUEUE")
                    add(at + length, "ON_QUEUE", "IDLE")
        _start, last = session[-1]
        add(last + post, "OFFLINE", "OFF_QUEUE")
    return points


def _periods(changes: list[tuple[int, str]], w1: int) -> list[Period]:
    """Periods from (instant, code) change points: a repeated code extends the period."""
    starts: list[int] = []
    codes: list[str] = []
    for t, code in changes:
        if not codes or codes[-1] != code:
            starts.append(t)
            codes.append(code)
    return list(map(Period, starts, [*starts[1:], w1], codes))
