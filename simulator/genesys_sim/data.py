"""Deterministic, lazy conversation data.

Per UTC day, a cheap *skeleton* (one ``Row`` per conversation: timing, media, queue, agent,
wrap-up code, ids) is generated from ``(seed, day)``. Full JSON records (participants, sessions,
metrics, segments; docs/genesys-api.md §3) are rendered only for conversations actually served,
from a per-conversation seed, as seen at a given simulated "now" (ongoing, late wrap-up).
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate
from typing import Any, NamedTuple

from genesys_sim.config import SimConfig
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


def _generate_day(
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


def _stretch(rows: list[Row], fraction: float, max_days: int) -> list[Row]:
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
                rows = _generate_day(
                    self.config.seed, day, self.volume(day), self.entities, self.org
                )
                if self.config.long_conversation_fraction > 0:
                    rows = _stretch(
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
        return _Renderer(self, row, now_ms, with_attributes).conversation()


def _phone(rng: random.Random) -> str:
    return f"tel:+1{rng.randint(200, 989)}555{rng.randint(0, 9999):04d}"


class _Renderer:
    """Builds one record; every random draw happens regardless of ``now`` (stable content)."""

    def __init__(self, data: DataSet, row: Row, now_ms: int, with_attributes: bool) -> None:
        self.data, self.row, self.now = data, row, now_ms
        self.ents = data.entities
        self.attrs = with_attributes
        self.rng = random.Random(row.seed)
        self.media = MEDIA[row.media]
        self.direction = DIRECTIONS[row.direction]
        self.end = data.end_ms(row)
        self.ended = self.end <= now_ms

    def conversation(self) -> dict[str, Any]:
        row, rng = self.row, self.rng
        customer_addr = (
            _phone(rng)
            if self.media in ("voice", "callback", "message")
            else (f"customer{rng.randint(1, 99999)}@example.com")
        )
        org_addr = (
            _phone(rng)
            if self.media in ("voice", "callback", "message")
            else ("support@example-org.com")
        )
        self.customer_addr, self.org_addr = customer_addr, org_addr
        self.edge = self.ents.edges[rng.randrange(len(self.ents.edges))]
        mos = round(3.6 + rng.random() * 0.85, 2)
        rfactor = round(70 + rng.random() * 22, 1)
        conv: dict[str, Any] = {
            "conversationId": row.conversation_id,
            "conversationStart": iso(row.start),
        }
        if self.ended:
            conv["conversationEnd"] = iso(self.end)
        conv["conversationInitiator"] = "agent" if row.direction == 1 else "customer"
        conv["customerParticipation"] = True
        conv["divisionIds"] = [self.ents.divisions[row.division]]
        if self.media == "voice" and self.ended:
            conv["mediaStatsMinConversationMos"] = mos
            conv["mediaStatsMinConversationRFactor"] = rfactor
        conv["originatingDirection"] = self.direction
        participants = []
        plan = self.data.plan(row)
        visible = dict(self.data.visible_segments(row, self.now, plan))
        for purpose, segs in plan:
            part = self.participant(purpose, segs, visible.get(purpose))
            if part is not None:
                participants.append(part)
        conv["participants"] = participants
        return conv

    def participant(
        self, purpose: str, segs: list[Segment], visible: list[Segment] | None
    ) -> dict[str, Any] | None:
        rng, row, ents = self.rng, self.row, self.ents
        pid, sid = new_uuid(rng), new_uuid(rng)
        queue_id, queue_name, _div = ents.queues[row.queue]
        extra = rng.random()
        if visible is None:
            return None
        part: dict[str, Any] = {"participantId": pid}
        session: dict[str, Any] = {
            "mediaType": self.media,
            "sessionId": sid,
            "direction": self.direction,
        }
        metrics: list[tuple[str, int, int]] = []
        start = segs[0].start
        seg_end = max(s.end for s in segs)
        if purpose == "customer":
            part["participantName"] = (
                f"Customer {int(extra * 9000) + 1000}"
                if self.media in ("chat", "email")
                else self.customer_addr.replace("tel:", "")
            )
            part["purpose"] = "customer"
            if self.attrs:
                part["attributes"] = {
                    "customerTier": ("bronze", "silver", "gold")[int(extra * 3)],
                    "language": "en-US",
                    "accountNumber": str(int(extra * 10_000_000)),
                }
        elif purpose == "ivr":
            flow_id, flow_name = ents.flows["INBOUNDCALL"]
            part["participantName"] = flow_name
            part["purpose"] = "ivr"
            metrics += [
                ("nFlow", 1, start),
                ("tFlow", seg_end - start, seg_end),
                ("tFlowExit", seg_end - start, seg_end),
                ("tIvr", seg_end - start, seg_end),
            ]
            session["flow"] = {
                "endingLanguage": "en-us",
                "entryReason": self.org_addr,
                "entryType": "dnis",
                "exitReason": "TRANSFER",
                "flowId": flow_id,
                "flowName": flow_name,
                "flowType": "INBOUNDCALL",
                "flowVersion": "12.0",
                "startingLanguage": "en-us",
                "transferTargetAddress": queue_id,
                "transferTargetName": queue_name,
                "transferType": "ACD",
            }
        elif purpose == "acd":
            part["participantName"] = queue_name
            part["purpose"] = "acd"
            session["requestedRoutings"] = ["Standard"]
            session["usedRouting"] = "Standard"
            abandoned = row.user < 0
            metrics += [("nOffered", 1, start), ("tAcd", seg_end - start, seg_end)]
            if abandoned:
                metrics.append(("tAbandon", seg_end - start, seg_end))
            elif seg_end - start > 20_000:
                metrics.append(("nOverSla", 1, seg_end))
            if self.media == "voice":
                flow_id, flow_name = ents.flows["INQUEUECALL"]
                session["flow"] = {
                    "entryType": "direct",
                    "exitReason": "TRANSFER",
                    "flowId": flow_id,
                    "flowName": flow_name,
                    "flowType": "INQUEUECALL",
                    "flowVersion": "3.0",
                    "transferType": "ACD",
                }
        else:  # agent
            user_id, user_name, team_id = ents.users[row.user]
            part["participantName"] = user_name
            part["purpose"] = "agent"
            part["teamId"] = team_id
            part["userId"] = user_id
            answer, end, acw = self.data.answer_ms(row), self.end, row.acw
            held = sum(s.end - s.start for s in segs if s.segment_type == "hold")
            if row.direction == 1:
                metrics += [("nOutbound", 1, start), ("tDialing", answer - start, answer)]
            else:
                metrics += [
                    ("tAlert", segs[0].end - segs[0].start, answer),
                    ("tAnswered", answer - (row.start + row.ivr), answer),
                ]
            metrics += [
                ("nConnected", 1, answer),
                ("tConnected", end - answer, end),
                ("tTalk", end - answer - held, end),
                ("tTalkComplete", end - answer - held, end),
            ]
            if held:
                metrics += [("tHeld", held, end), ("tHeldComplete", held, end)]
            wrap_at = self.data.wrap_visible_ms(row) or end
            metrics += [("tAcw", acw, wrap_at), ("tHandle", end - answer + acw, wrap_at)]
            session["selectedAgentId"] = user_id
        # session addressing per media
        if self.media in ("voice", "callback"):
            ani, dnis = (
                (self.org_addr, self.customer_addr)
                if row.direction == 1
                else (self.customer_addr, self.org_addr)
            )
            session.update(
                {
                    "ani": ani,
                    "dnis": dnis,
                    "edgeId": self.edge,
                    "protocolCallId": new_uuid(rng),
                    "provider": "Edge",
                    "recording": purpose == "agent",
                    "remote": self.customer_addr[4:],
                    "sessionDnis": dnis,
                }
            )
            if self.media == "callback":
                session["callbackNumbers"] = [self.customer_addr]
                session["callbackUserName"] = f"Customer {row.seed % 9000 + 1000}"
        elif self.media == "email":
            session.update(
                {
                    "addressFrom": self.customer_addr,
                    "addressTo": self.org_addr,
                    "remote": self.customer_addr,
                }
            )
        elif self.media == "message":
            session.update(
                {
                    "addressFrom": self.customer_addr,
                    "addressTo": self.org_addr,
                    "messageType": "sms",
                    "remote": self.customer_addr[4:],
                }
            )
        else:
            session.update(
                {
                    "remote": part.get("participantName", "Web visitor"),
                    "roomId": f"{new_uuid(rng)}@conference.example-org.com",
                }
            )
        if self.media == "voice" and purpose in ("customer", "agent"):
            loss = rng.randint(0, 40)
            stat_at = min(seg_end, self.end)
            stat = {
                "codecs": ["opus"] if purpose == "agent" else ["audio/PCMU"],
                "discardedPackets": loss // 3,
                "duplicatePackets": 0,
                "eventTime": iso(stat_at),
                "invalidPackets": 0,
                "maxLatencyMs": rng.randint(20, 220),
                "minMos": round(3.6 + rng.random() * 0.8, 2),
                "minRFactor": round(70 + rng.random() * 22, 1),
                "overrunPackets": 0,
                "receivedPackets": max(1, (stat_at - start) // 20),
                "underrunPackets": loss % 5,
            }
            if stat_at <= self.now:
                session["mediaEndpointStats"] = [stat]
        shown = [(n, v, e) for n, v, e in metrics if e <= self.now]
        if shown:
            session["metrics"] = [{"emitDate": iso(e), "name": n, "value": v} for n, v, e in shown]
        session["segments"] = [self.segment(s, purpose) for s in visible]
        part["sessions"] = [session]
        return part

    def segment(self, seg: Segment, purpose: str) -> dict[str, Any]:
        seg_type, start, end, disc, queue_id, wrap = seg
        out: dict[str, Any] = {"segmentStart": iso(start)}
        if end <= self.now or seg_type == "wrapup":
            out["segmentEnd"] = iso(end)
            if disc:
                out["disconnectType"] = disc
        if queue_id and purpose in ("acd", "agent"):
            out["queueId"] = queue_id
        if purpose == "acd":  # routing requirements of the queue (org.py)
            org, queue = self.data.org, self.row.queue
            language = org.queue_language[queue]
            if language is not None:
                out["requestedLanguageId"] = org.languages[language].id
            if org.queue_skills[queue]:
                out["requestedRoutingSkillIds"] = [
                    org.skills[i].id for i in org.queue_skills[queue]
                ]
        out["segmentType"] = seg_type
        if self.media == "email" and seg_type == "interact":
            out["subject"] = f"Case {self.row.seed % 100000:05d}: order question"
        if wrap:
            out["wrapUpCode"] = wrap
            if self.row.seed % 3 == 0:
                out["wrapUpNote"] = "Customer issue resolved."
        if seg_type == "interact" and purpose in ("customer", "agent"):
            out["conference"] = False
        return out


def days_touched(start_ms: int, end_ms: int) -> list[date]:
    """UTC days intersecting [start, end)."""
    first = day_of(start_ms)
    last = day_of(max(start_ms, end_ms - 1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
