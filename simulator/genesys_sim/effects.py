"""What each fault kind does: ONE table, ``EFFECTS`` (kind -> stage and applier).

``faults.py`` holds the rules and decides which fire on a request; this module applies them.
``api.py`` runs the request stages at their moments (``apply``); ``pages.py`` asks for the index
a query pages (``paged_index``, ``index_state``, ``page_served``). docs/simulator.md "Faults"
describes every kind.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from genesys_sim.auth import TokenStore
from genesys_sim.config import SimConfig
from genesys_sim.data import Row
from genesys_sim.errors import rate_limited, server_error
from genesys_sim.faults import FaultInjector, FaultRule
from genesys_sim.harsh import echo_auth_body, oversize_body, shift_rows
from genesys_sim.messages import Response, to_json
from genesys_sim.stats import Stats

HTML_BODY = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<h1>502 Bad Gateway</h1><p>The upstream server returned an invalid response.</p>"
    b"</body></html>"
)


class Stage(Enum):
    """When a kind acts on a request, in this order."""

    CONNECTION = "connection"  # before the request is read: a delay, revoked tokens, no answer
    CREDENTIALS = "credentials"  # token endpoint, before the grant: an answer echoing them
    REFUSAL = "refusal"  # after auth and rate limit: an error instead of the endpoint's answer
    BODY = "body"  # alters a 200 answer
    INDEX = "index"  # not per request: the index a sync query pages, while configured


class FaultHost(Protocol):
    """What the appliers need of the application (``api.SimApp``)."""

    config: SimConfig
    tokens: TokenStore
    stats: Stats
    sleep: Callable[[float], None]


@dataclass
class Exchange:
    """One request as the appliers see it; ``response`` is the answer in the BODY stage."""

    host: FaultHost
    headers: Mapping[str, str]
    body: bytes
    token_endpoint: bool
    response: Response | None = None


#: request stages: a Response ends the request (CONNECTION, CREDENTIALS) or is the altered
#: answer (BODY; None: the answer is not one the kind alters); REFUSAL raises its ApiError
Applier = Callable[[FaultRule, Exchange], Response | None]
#: INDEX stage: (rule, the query's rows in page order, its match key, sim seed) -> rows paged
Reindex = Callable[[FaultRule, list[Row], str, int], list[Row]]


@dataclass(frozen=True)
class Effect:
    stage: Stage
    apply: Applier | None = None  # request stages
    on_token: bool = True  # also acts on the token endpoint's answer
    reindex: Reindex | None = None  # INDEX stage
    #: INDEX stage: what of the rule's state a page depends on (cache keys; default none)
    state: Callable[[FaultRule, str], Hashable] | None = None
    #: INDEX stage: after page ``n`` of a query was served; True: it took effect (counted)
    served: Callable[[FaultRule, str, int], bool] | None = None
    live: bool = False  # INDEX stage: the index moves between pages (no page built ahead)


# ------------------------------------------------------------------ CONNECTION
def _revoke(rule: FaultRule, ex: Exchange) -> None:
    ex.host.tokens.revoke_all()


def _latency(rule: FaultRule, ex: Exchange) -> None:
    ex.host.sleep(rule.latency_s)


def _hang(rule: FaultRule, ex: Exchange) -> Response:
    ex.host.sleep(min(rule.hang_s, ex.host.config.max_hang_s))
    return Response(0, action="close")


def _reset(rule: FaultRule, ex: Exchange) -> Response:
    return Response(0, action="reset")


# ------------------------------------------------------------------ CREDENTIALS, REFUSAL
def _echo_auth(rule: FaultRule, ex: Exchange) -> Response:
    text, ctype = echo_auth_body(ex.headers, ex.body, rule.auth_status)
    return Response(rule.auth_status, text, content_type=ctype)


def _status(rule: FaultRule, ex: Exchange) -> None:
    err = server_error(rule.status)
    if rule.retry_after is not None:
        err.headers["Retry-After"] = str(rule.retry_after)
    raise err


def _rate_limit(rule: FaultRule, ex: Exchange) -> None:
    raise rate_limited(rule.retry_after if rule.retry_after is not None else 1)


# ------------------------------------------------------------------ BODY
def _answer(ex: Exchange) -> Response:
    assert ex.response is not None
    return ex.response


def _empty_page(rule: FaultRule, ex: Exchange) -> Response | None:
    resp = _answer(ex)
    if not (resp.body.startswith(b'{"conversations"') and b'"totalHits":' in resp.body):
        return None
    resp.body = to_json({"totalHits": json.loads(resp.body).get("totalHits", 0)})
    return resp


def _total_hits(rule: FaultRule, ex: Exchange) -> Response | None:
    resp = _answer(ex)
    if b'"totalHits":' not in resp.body:
        return None
    head, _, tail = resp.body.rpartition(b'"totalHits":')
    hits = round(int(tail.rstrip(b"}")) * rule.factor) + rule.drift * (rule.fired - 1)
    resp.body = head + b'"totalHits":%d}' % max(0, hits)
    return resp


def _truncated(rule: FaultRule, ex: Exchange) -> Response:
    resp = _answer(ex)
    resp.body = resp.body[: max(1, len(resp.body) // 2)]
    return resp


def _html(rule: FaultRule, ex: Exchange) -> Response:
    resp = _answer(ex)
    resp.body, resp.content_type = HTML_BODY, "text/html"
    return resp


def _trickle(rule: FaultRule, ex: Exchange) -> Response:
    resp = _answer(ex)
    resp.trickle_s = rule.trickle_interval_s
    return resp


def _oversize(rule: FaultRule, ex: Exchange) -> Response | None:
    resp = _answer(ex)
    big = oversize_body(resp.body, rule.size_mb)
    if big is None:
        return None
    resp.stream, resp.length = big
    resp.chunked, resp.body = rule.chunked, b""
    return resp


# ------------------------------------------------------------------ INDEX
def _duplicated(rule: FaultRule, rows: list[Row], match_key: str, seed: int) -> list[Row]:
    """Some entries duplicated a few places later (seeded per query)."""
    rng = random.Random(f"{seed}:{match_key}")
    out: list[Row] = []
    pending: dict[int, list[Row]] = {}
    for i, row in enumerate(rows):
        out.append(row)
        if rng.random() < rule.dup_rate:
            pending.setdefault(i + 1 + rng.randrange(40), []).append(row)
        out.extend(pending.pop(i, ()))
    for later in pending.values():
        out.extend(later)
    return out


def _shifted(rule: FaultRule, rows: list[Row], match_key: str, seed: int) -> list[Row]:
    return shift_rows(rows, rule.shift_rows, match_key in rule.shifted)


def _shift_state(rule: FaultRule, match_key: str) -> bool:
    return match_key in rule.shifted


def _shift_served(rule: FaultRule, match_key: str, page_number: int) -> bool:
    """Once page ``after_page`` of a query was served, its later requests see the moved index."""
    if page_number != rule.after_page or match_key in rule.shifted:
        return False
    rule.shifted.add(match_key)
    return True


#: every fault kind (faults.KINDS); INDEX kinds apply in this order (duplicates, then shift)
EFFECTS: dict[str, Effect] = {
    "revoke": Effect(Stage.CONNECTION, _revoke),
    "latency": Effect(Stage.CONNECTION, _latency),
    "hang": Effect(Stage.CONNECTION, _hang),
    "reset": Effect(Stage.CONNECTION, _reset),
    "echo_auth": Effect(Stage.CREDENTIALS, _echo_auth),
    "status": Effect(Stage.REFUSAL, _status),
    "rate_limit": Effect(Stage.REFUSAL, _rate_limit),
    "empty_page": Effect(Stage.BODY, _empty_page, on_token=False),
    "total_hits": Effect(Stage.BODY, _total_hits, on_token=False),
    "truncated": Effect(Stage.BODY, _truncated, on_token=False),
    "html": Effect(Stage.BODY, _html, on_token=False),
    "trickle": Effect(Stage.BODY, _trickle),
    "oversize": Effect(Stage.BODY, _oversize, on_token=False),
    "duplicates": Effect(Stage.INDEX, reindex=_duplicated),
    "shift": Effect(
        Stage.INDEX, reindex=_shifted, state=_shift_state, served=_shift_served, live=True
    ),
}
_INDEX = tuple((kind, e) for kind, e in EFFECTS.items() if e.stage is Stage.INDEX)


def apply(stage: Stage, fired: list[FaultRule], ex: Exchange) -> Response | None:
    """Apply the rules of ``stage`` among those that fired on this request, in rule order.

    CONNECTION, CREDENTIALS: the first rule that answers ends the request (its Response is
    returned). REFUSAL: the first rule raises its error. BODY (200 answers only): each rule
    alters ``ex.response`` in turn; returns it. ``faults_injected`` counts a rule when it takes
    effect: the stages before the answer always do and are counted first (a hang is counted
    while it hangs); a BODY rule only when the answer is one it alters.
    """
    if stage is Stage.BODY and (ex.response is None or ex.response.status != 200):
        return ex.response
    for rule in fired:
        effect = EFFECTS[rule.kind]
        if effect.stage is not stage or effect.apply is None:
            continue
        if ex.token_endpoint and not effect.on_token:
            continue
        if stage is Stage.BODY:
            if effect.apply(rule, ex) is not None:
                ex.host.stats.fault(rule.kind)
            continue
        ex.host.stats.fault(rule.kind)
        answer = effect.apply(rule, ex)
        if answer is not None:
            return answer
    return ex.response if stage is Stage.BODY else None


def _index_rules(faults: FaultInjector) -> list[tuple[Effect, FaultRule]]:
    """The configured INDEX rules (the first of each kind), in application order."""
    rules = faults.data_rules()
    if not rules:
        return []
    return [(e, rules[kind]) for kind, e in _INDEX if kind in rules]


def index_state(faults: FaultInjector, match_key: str) -> tuple[Hashable, ...] | None:
    """None without INDEX rules; else what of their state this query's pages depend on."""
    rules = _index_rules(faults)
    if not rules:
        return None
    return tuple(e.state(rule, match_key) if e.state else None for e, rule in rules)


def index_is_live(faults: FaultInjector) -> bool:
    """Whether a configured INDEX rule moves the index between pages (no page built ahead)."""
    return any(e.live for e, _rule in _index_rules(faults))


def paged_index(faults: FaultInjector, rows: list[Row], match_key: str, seed: int) -> list[Row]:
    """The index of one query as a pager sees it under the INDEX rules (``rows`` without)."""
    for effect, rule in _index_rules(faults):
        assert effect.reindex is not None
        rows = effect.reindex(rule, rows, match_key, seed)
    return rows


def page_served(faults: FaultInjector, stats: Stats, match_key: str, page_number: int) -> None:
    """Tell the INDEX rules a page of a query was served (counted when one takes effect)."""
    rules = faults.data_rules()
    for kind, effect in _INDEX:
        rule = rules.get(kind)
        if rule is not None and effect.served and effect.served(rule, match_key, page_number):
            stats.fault(kind)
