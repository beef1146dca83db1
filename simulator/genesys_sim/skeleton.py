"""Conversation skeletons: one ``Row`` per conversation of a UTC day, from ``(seed, day)``.

A row is cheap (timing, media, queue, agent, wrap-up code, ids, the record's own seed); the org
entities it points into (``Entities``) come from the seed too. ``data.DataSet`` keeps the days
built, ``records.py`` renders a row into its JSON record.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate
from typing import NamedTuple

from genesys_sim.org import OrgHistory

DAY_MS = 86_400_000
MAX_SPAN_DAYS = 3  # no conversation lasts longer (used by activity-overlap matching of jobs)

MEDIA = ("voice", "chat", "message", "email", "callback")
MEDIA_WEIGHTS = (55, 15, 12, 10, 8)
DIRECTIONS = ("inbound", "outbound")
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 19, 18, 16, 17, 18, 17, 15, 12, 9, 7, 5, 4, 2, 1)
WEEKDAY_FACTOR = (1.15, 1.1, 1.1, 1.05, 1.0, 0.45, 0.4)
SYSTEM_WRAPUP = "ININ-WRAP-UP-TIMEOUT"


class Row(NamedTuple):
    """One conversation's skeleton: everything its record is rendered from (still a tuple:
    hashable, picklable, ordered like one)."""

    start: int  # conversationStart, ms since epoch
    ivr: int  # IVR time, ms (0: no IVR)
    wait: int  # queue wait (outbound: dialing), ms
    talk: int  # agent interaction, ms (multi-day conversations: the whole span)
    acw: int  # after-call work, ms
    late: float  # uniform draw: the wrap-up is late when below ``late_wrapup_fraction``
    media: int  # index into MEDIA
    direction: int  # index into DIRECTIONS (1: outbound)
    queue: int  # index into Entities.queues
    user: int  # index into Entities.users (-1: abandoned, no agent)
    wrapup: int  # index into Entities.wrapups (-1: no agent)
    division: int  # index into Entities.divisions
    seed: int  # the record's own RNG seed
    conversation_id: str


class Segment(NamedTuple):
    """One planned segment of a participant (``DataSet.plan``)."""

    segment_type: str
    start: int
    end: int
    disconnect_type: str | None
    queue_id: str | None
    wrapup_code: str | None


#: (purpose, segments) per participant
Plan = list[tuple[str, list[Segment]]]


class Queue(NamedTuple):
    id: str
    name: str
    division: int  # index into Entities.divisions


class Agent(NamedTuple):
    id: str
    name: str
    team_id: str


@lru_cache(maxsize=8192)
def _day_prefix(day_index: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day_index * 86400))


def iso(ms: int) -> str:
    """Milliseconds since epoch -> ``2024-05-01T10:00:00.123Z``."""
    day, rem = divmod(ms, DAY_MS)
    sec, milli = divmod(rem, 1000)
    hour, rest = divmod(sec, 3600)
    minute, second = divmod(rest, 60)
    return f"{_day_prefix(day)}{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).date()


def day_start_ms(day: date) -> int:
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=timezone.utc))


_UUID_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID_SET = (0x8000 << 48) | (0x4000 << 64)


def new_uuid(rng: random.Random) -> str:
    """Version-4 UUID text from ``rng`` (same as ``str(uuid.UUID(int=..., version=4))``)."""
    h = f"{(rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Entities:
    """Org reference data: divisions, queues, agents, wrap-up codes, flows, edges."""

    divisions: tuple[str, ...]
    queues: tuple[Queue, ...]
    users: tuple[Agent, ...]
    wrapups: tuple[str, ...]  # last one is the system timeout code
    flows: dict[str, tuple[str, str]]  # flowType -> (id, name)
    edges: tuple[str, ...]

    @classmethod
    def generate(cls, seed: int) -> Entities:
        rng = random.Random(f"genesys-sim:{seed}:entities")
        divisions = tuple(new_uuid(rng) for _ in range(3))
        queue_names = (
            "Sales",
            "Support",
            "Billing",
            "Retention",
            "Tech L1",
            "Tech L2",
            "VIP",
            "Claims",
            "Orders",
            "Returns",
            "Escalations",
            "Spanish",
        )
        queues = tuple(Queue(new_uuid(rng), name, i % 3) for i, name in enumerate(queue_names))
        teams = [new_uuid(rng) for _ in range(8)]
        first = ("Ana", "Ben", "Chloe", "Dev", "Eva", "Finn", "Gia", "Hugo", "Ines", "Jon")
        last = ("Smith", "Garcia", "Chen", "Novak", "Okafor", "Rossi", "Kim", "Berg")
        users = tuple(
            Agent(new_uuid(rng), f"{first[i % 10]} {last[(i // 10) % 8]} {i}", teams[i % 8])
            for i in range(150)
        )
        wrapups = (*(new_uuid(rng) for _ in range(24)), SYSTEM_WRAPUP)
        flows = {
            kind: (new_uuid(rng), name)
            for kind, name in (
                ("INBOUNDCALL", "Main IVR"),
                ("INQUEUECALL", "Default In-Queue"),
                ("INBOUNDCHAT", "Web Chat Entry"),
                ("INBOUNDSHORTMESSAGE", "Messaging Entry"),
                ("INBOUNDEMAIL", "Email Routing"),
            )
        }
        edges = tuple(new_uuid(rng) for _ in range(4))
        return cls(divisions, queues, users, wrapups, flows, edges)


def generate_day(
    seed: int, day: date, volume: int, ents: Entities, org: OrgHistory | None = None
) -> list[Row]:
    rng = random.Random(f"genesys-sim:{seed}:{day.isoformat()}")
    base = day_start_ms(day)
    cum = list(accumulate(HOUR_WEIGHTS))
    hours = rng.choices(range(24), cum_weights=cum, k=volume)
    starts = sorted(base + h * 3_600_000 + rng.randrange(3_600_000) for h in hours)
    n_queues, n_users, n_wrap = len(ents.queues), len(ents.users), len(ents.wrapups)
    media_cum = list(accumulate(MEDIA_WEIGHTS))
    medias = rng.choices(range(len(MEDIA)), cum_weights=media_cum, k=volume)
    rows: list[Row] = []
    rand, randint, expo, lognorm = rng.random, rng.randint, rng.expovariate, rng.lognormvariate
    make_row = Row._make  # from a tuple: a third of the cost of Row(...) (150,000 rows a day)
    for start, media in zip(starts, medias, strict=False):
        u = rand()
        outbound = (media == 0 and u < 0.2) or (media == 2 and u < 0.1) or (media == 3 and u < 0.15)
        ivr = 0
        if outbound:
            wait = randint(5_000, 30_000)
            abandoned = False
        else:
            if media == 0:
                ivr = randint(15_000, 120_000) if rand() < 0.9 else 0
                wait = min(int(expo(1 / 45_000)), 1_800_000)
            elif media == 1:
                wait = min(int(expo(1 / 60_000)), 1_800_000)
            elif media == 2:
                wait = min(int(expo(1 / 300_000)), 7_200_000)
            elif media == 3:
                wait = randint(300_000, 72_000_000)
            else:
                wait = randint(120_000, 1_800_000)
            wait = max(wait, 2_000)
            abandoned = rand() < (0.07, 0.10, 0.05, 0.0, 0.03)[media]
        if abandoned:
            talk, acw, user, wrap = 0, 0, -1, -1
        else:
            if media == 2 and rand() < 0.2:
                talk = randint(7_200_000, 129_600_000)  # long asynchronous messaging thread
            elif media == 3:
                talk = randint(60_000, 900_000)
            else:
                mean = (240_000, 600_000, 900_000, 0, 300_000)[media]
                talk = min(int(lognorm(0, 0.7) * mean), 10_800_000)
            talk = max(talk, 5_000)
            acw = randint(5_000, 120_000)
            user = rng.randrange(n_users)
            if org is not None:  # agents who left hand their later conversations over
                user = org.user_at(user, start, n_users)
            wrap = n_wrap - 1 if rand() < 0.03 else rng.randrange(n_wrap - 1)
        queue = rng.randrange(n_queues)
        if org is not None:  # closed queues receive no later conversations
            queue = org.queue_at(queue, start, n_queues)
        rows.append(
            make_row(
                (
                    start,
                    ivr,
                    wait,
                    talk,
                    acw,
                    rand(),
                    media,
                    int(outbound),
                    queue,
                    user,
                    wrap,
                    ents.queues[queue].division,
                    rng.getrandbits(63),
                    new_uuid(rng),
                )
            )
        )
    return rows


_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def stretch(rows: list[Row], fraction: float, max_days: int) -> list[Row]:
    """Multi-day conversations: ``fraction`` of the agent-handled message/email conversations
    stay open 1..``max_days`` days. Decided from each row's own seed (no draw from the day's
    RNG, so every other conversation is unchanged)."""
    out = []
    for row in rows:
        if row.media in (2, 3) and row.user >= 0:
            h = (row.seed * _GOLDEN) & _MASK64
            if (h >> 40) / (1 << 24) < fraction:
                span = DAY_MS + int(((h >> 8) & 0xFFFFFF) / (1 << 24) * (max_days - 1) * DAY_MS)
                out.append(row._replace(talk=span))
                continue
        out.append(row)
    return out


def days_touched(start_ms: int, end_ms: int) -> list[date]:
    """UTC days intersecting [start, end)."""
    first = day_of(start_ms)
    last = day_of(max(start_ms, end_ms - 1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
