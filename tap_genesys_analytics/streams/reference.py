"""The reference tables that give ids their names: the org's configuration, in full each run.

Each table is a ``GET`` list endpoint paged with ``pageSize``/``pageNumber`` whose answer is the
``entities``/``pageCount`` envelope (the ``*EntityListing`` models). Page 1 tells
``pageCount``; pages are read until that count or the first empty page, whichever is later
(the same "only an empty page ends it" rule as the details query; a count is never trusted to
end a table). The largest page size a list accepts is undocumented: it starts at
:data:`PAGE_SIZE` and is halved while the API refuses it. Deleted and inactive entities are
asked for where the API can return them (users ``state=any``, flows of every state), so old
conversations still resolve. A full table is small: no bookmark, no state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from typing_extensions import override

from tap_genesys_analytics.client import GenesysClient, RequestRefused
from tap_genesys_analytics.errors import ExtractError
from tap_genesys_analytics.streams.base import GenesysStream

PAGE_SIZE = 100


class ReferenceStream(GenesysStream):
    """One full table from a list endpoint."""

    primary_keys: ClassVar[list[str]] = ["id"]
    replication_key = None
    #: the list endpoint
    path: ClassVar[str]
    #: the permission the endpoint needs (named in a 403's one-line error)
    permission: ClassVar[str]
    #: query parameters besides paging
    params: ClassVar[dict[str, str]] = {}
    #: False for the one list that is not paged (presence definitions)
    paged: ClassVar[bool] = True

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """Every entity of the table, page by page."""
        client = self.api_client()
        try:
            yield from self._entities(client)
        except BaseException:
            client.close()
            raise

    def _entities(self, client: GenesysClient) -> Iterator[dict[str, Any]]:
        size, number, rows = PAGE_SIZE, 1, 0
        while True:
            params = dict(self.params)
            if self.paged:
                params |= {"pageSize": str(size), "pageNumber": str(number)}
            what = f"{self.name} page {number}"
            try:
                page = client.request(
                    "GET",
                    self.path,
                    params=params,
                    what=what,
                    permission=self.permission,
                    refused_ok=self.paged and number == 1 and size > 1,
                )
            except RequestRefused:
                size //= 2  # this list refuses the page size: smaller, for the whole table
                self.logger.info("%s: pageSize refused; using %d", self.name, size)
                continue
            entities = page.get("entities") or []
            if not isinstance(entities, list):
                raise ExtractError(f"{what}: 'entities' is not a list")
            for entity in entities:
                if not isinstance(entity, dict) or not entity.get("id"):
                    raise ExtractError(f"{what}: an entity without an id")
                yield entity
            rows += len(entities)
            page_count = page.get("pageCount")
            last = isinstance(page_count, int) and number >= page_count
            if not self.paged or not entities or (last and len(entities) < size):
                break  # an empty page, or a short one at the announced last page
            number += 1
        self.logger.info("%s: %d rows in %d page(s)", self.name, rows, number)


class UsersStream(ReferenceStream):
    """Users of every state (deleted and inactive too: old conversations name them)."""

    name = "users"
    path = "/api/v2/users"
    permission = "directory:user:view"
    params: ClassVar[dict[str, str]] = {"state": "any"}


class QueuesStream(ReferenceStream):
    """Routing queues."""

    name = "routing_queues"
    path = "/api/v2/routing/queues"
    permission = "routing:queue:view"


class WrapupCodesStream(ReferenceStream):
    """Wrap-up codes (the ids in segments' ``wrapUpCode``)."""

    name = "routing_wrapup_codes"
    path = "/api/v2/routing/wrapupcodes"
    permission = "routing:wrapupCode:view"


class SkillsStream(ReferenceStream):
    """Routing skills."""

    name = "routing_skills"
    path = "/api/v2/routing/skills"
    permission = "routing:skill:view"


class LanguagesStream(ReferenceStream):
    """Routing languages."""

    name = "routing_languages"
    path = "/api/v2/routing/languages"
    permission = "routing:skill:view"


class DivisionsStream(ReferenceStream):
    """Authorization divisions."""

    name = "divisions"
    path = "/api/v2/authorization/divisions"
    permission = "authorization:division:view"


class GroupsStream(ReferenceStream):
    """Groups."""

    name = "groups"
    path = "/api/v2/groups"
    permission = "directory:group:view"


class PresenceDefinitionsStream(ReferenceStream):
    """The org's presence definitions (``organizationPresenceId`` of status periods)."""

    name = "presence_definitions"
    path = "/api/v2/presence/definitions"
    permission = "presence:presenceDefinition:view"
    paged = False


class FlowsStream(ReferenceStream):
    """Architect flows (``flow.flowId`` of sessions), deleted ones included."""

    name = "flows"
    path = "/api/v2/flows"
    permission = "architect:flow:view"


REFERENCE_STREAMS: tuple[type[ReferenceStream], ...] = (
    UsersStream,
    QueuesStream,
    WrapupCodesStream,
    SkillsStream,
    LanguagesStream,
    DivisionsStream,
    GroupsStream,
    PresenceDefinitionsStream,
    FlowsStream,
)
