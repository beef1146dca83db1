"""Org history beyond the conversation pools: routing skills and languages, departures.

Derived from the seed (and ``data_start`` for the departure instants) without touching the
random draws of ``data.Entities`` or of the conversation skeletons, so adding it changed no
existing id. Imported by ``data`` (skeleton remapping, segment skills) and by the reference
tables; it imports nothing from the simulator itself.

- Skills and languages: each queue requests 0-2 routing skills and some queues a language; the
  ``acd`` segments of its conversations carry ``requestedRoutingSkillIds`` /
  ``requestedLanguageId``. One skill and one language are ``deleted`` but still requested by a
  queue (old routing configuration the reference tables must still resolve).
- Departures: a few agents leave (``deleted`` or ``inactive`` users) and a few queues close
  (inactive: no members) a few days after ``data_start``. Conversations that start after an
  agent's last working instant (``margin_ms`` = the longest conversation span before the
  departure, so nothing they handled is still running when they leave) or after a queue's
  closing go to a deterministic substitute, so only *older* conversations reference them.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import NamedTuple

DAY_MS = 86_400_000
MARGIN_MS = 3 * DAY_MS  # default: no conversation lasts longer (data.MAX_SPAN_DAYS)

SKILL_NAMES = (
    "Billing",
    "Claims",
    "Retention",
    "Networking",
    "Hardware",
    "Software",
    "VIP Care",
    "Orders",
    "Returns",
    "Escalation Handling",
    "Legacy IVR Support",
)
LANGUAGE_NAMES = ("English", "Spanish", "French", "German", "Portuguese (retired)")
DELETED_SKILL = len(SKILL_NAMES) - 1  # "Legacy IVR Support": deleted, still requested
DELETED_LANGUAGE = len(LANGUAGE_NAMES) - 1


class Named(NamedTuple):
    """A skill or a language."""

    id: str
    name: str


@dataclass(frozen=True)
class Departure:
    """An agent or queue that stops at ``at_ms``: ``state`` is what the reference then says."""

    index: int
    at_ms: int
    state: str  # users: "deleted" | "inactive"; queues: "inactive"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class OrgHistory:
    """Skills, languages, per-queue routing requirements and departures of one seed."""

    skills: tuple[Named, ...]
    languages: tuple[Named, ...]
    queue_skills: tuple[tuple[int, ...], ...]  # per queue index: skill indices requested
    queue_language: tuple[int | None, ...]  # per queue index: language index requested
    users_gone: dict[int, Departure]  # user index -> departure
    queues_closed: dict[int, Departure]  # queue index -> closing
    margin_ms: int = MARGIN_MS  # an agent's last new conversation starts this long before leaving

    @classmethod
    def generate(
        cls, seed: int, n_users: int, n_queues: int, origin_ms: int, margin_ms: int = MARGIN_MS
    ) -> OrgHistory:
        rng = random.Random(f"genesys-sim:{seed}:org")
        skills = tuple(Named(_uuid(rng), name) for name in SKILL_NAMES)
        languages = tuple(Named(_uuid(rng), name) for name in LANGUAGE_NAMES)
        queue_skills = []
        queue_language: list[int | None] = []
        for q in range(n_queues):
            count = (0, 1, 1, 2)[rng.randrange(4)]
            queue_skills.append(tuple(sorted(rng.sample(range(DELETED_SKILL), count))))
            queue_language.append(None if rng.random() < 0.5 else rng.randrange(DELETED_LANGUAGE))
            if q == 0:  # the first queue still requests the deleted skill and language
                queue_skills[-1] = (*queue_skills[-1], DELETED_SKILL)
                queue_language[-1] = DELETED_LANGUAGE
        gone = rng.sample(range(n_users), min(6, n_users))
        users_gone = {
            u: Departure(
                u,
                origin_ms + margin_ms + (1 + i % 3) * DAY_MS + rng.randrange(DAY_MS),
                "deleted" if i < 4 else "inactive",
            )
            for i, u in enumerate(gone)
        }
        closed = rng.sample(range(n_queues), min(2, max(0, n_queues - 1)))
        queues_closed = {
            q: Departure(q, origin_ms + (2 + i) * DAY_MS + rng.randrange(DAY_MS), "inactive")
            for i, q in enumerate(closed)
        }
        return cls(
            skills,
            languages,
            tuple(queue_skills),
            tuple(queue_language),
            users_gone,
            queues_closed,
            margin_ms,
        )

    # ------------------------------------------------------------------ departures
    def last_work_ms(self, user: int) -> int | None:
        """After this instant the agent takes no new conversation (None: never leaves)."""
        dep = self.users_gone.get(user)
        return None if dep is None else dep.at_ms - self.margin_ms

    def user_at(self, user: int, start_ms: int, n_users: int) -> int:
        """The agent who handles a conversation drawn for ``user`` starting at ``start_ms``."""
        candidate = user
        for _ in range(n_users):
            dep = self.users_gone.get(candidate)
            if dep is None or start_ms < dep.at_ms - self.margin_ms:
                return candidate
            candidate = (candidate + 37) % n_users
        return user

    def queue_at(self, queue: int, start_ms: int, n_queues: int) -> int:
        """The queue that receives a conversation drawn for ``queue`` at ``start_ms``."""
        candidate = queue
        for _ in range(n_queues):
            dep = self.queues_closed.get(candidate)
            if dep is None or start_ms < dep.at_ms:
                return candidate
            candidate = (candidate + 5) % n_queues
        return queue

    def user_state(self, user: int, now_ms: int) -> str:
        dep = self.users_gone.get(user)
        return dep.state if dep is not None and now_ms >= dep.at_ms else "active"

    def queue_active(self, queue: int, now_ms: int) -> bool:
        dep = self.queues_closed.get(queue)
        return dep is None or now_ms < dep.at_ms
