"""A conversation's JSON record (docs/genesys-api.md §3) rendered from its skeleton row, as the
API returns it at a given "now": ongoing conversations without their end, segments not started
yet left out, metrics once emitted, the wrap-up once visible. Every random draw of a record comes
from the row's own seed and happens whatever "now" is, so its content never changes.
"""

from __future__ import annotations

import random
from typing import Any, Protocol

from genesys_sim.org import OrgHistory
from genesys_sim.skeleton import DIRECTIONS, MEDIA, Entities, Plan, Row, Segment, iso, new_uuid


class RowTiming(Protocol):
    """What rendering needs of ``data.DataSet``: the org, the plan and the timing of a row."""

    entities: Entities
    org: OrgHistory

    def plan(self, row: Row) -> Plan: ...

    def visible_segments(self, row: Row, now_ms: int, plan: Plan | None = None) -> Plan: ...

    def answer_ms(self, row: Row) -> int: ...

    def end_ms(self, row: Row) -> int: ...

    def wrap_visible_ms(self, row: Row) -> int | None: ...


def render(data: RowTiming, row: Row, now_ms: int, with_attributes: bool = False) -> dict[str, Any]:
    """The full conversation detail record as the API returns it at ``now_ms``."""
    return _Renderer(data, row, now_ms, with_attributes).conversation()


def _phone(rng: random.Random) -> str:
    return f"tel:+1{rng.randint(200, 989)}555{rng.randint(0, 9999):04d}"


class _Renderer:
    """Builds one record; every random draw happens regardless of ``now`` (stable content)."""

    def __init__(self, data: RowTiming, row: Row, now_ms: int, with_attributes: bool) -> None:
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
