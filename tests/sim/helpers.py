"""Shared helpers for simulator tests: an authenticated HTTP client for a running SimServer."""

from __future__ import annotations

from typing import Any

import requests

from genesys_sim import SimServer

QUERY = "/api/v2/analytics/conversations/details/query"
JOBS = "/api/v2/analytics/conversations/details/jobs"
DAY = "2024-05-02T00:00:00.000Z/2024-05-03T00:00:00.000Z"


class Client:
    """Tiny test client: fetches a token, posts queries, pages through results."""

    def __init__(self, sim: SimServer, timeout: float = 10.0) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.timeout = timeout
        self.token = self.fetch_token()

    def fetch_token(self, client_id: str = "sim-client", secret: str = "sim-secret") -> str:
        resp = self.session.post(
            self.sim.base_url + "/oauth/token",
            auth=(client_id, secret),
            data={"grant_type": "client_credentials"},
            timeout=self.timeout,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.session.post(
            self.sim.base_url + path,
            json=body,
            headers=self.auth,
            timeout=kw.pop("timeout", self.timeout),
            **kw,
        )

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(
            self.sim.base_url + path,
            headers=self.auth,
            timeout=kw.pop("timeout", self.timeout),
            **kw,
        )

    def query(
        self, interval: str = DAY, page_size: int = 100, page_number: int = 1, **extra: Any
    ) -> requests.Response:
        body = {
            "interval": interval,
            "paging": {"pageSize": page_size, "pageNumber": page_number},
            **extra,
        }
        return self.post(QUERY, body)

    def all_pages(
        self, interval: str = DAY, page_size: int = 100, **extra: Any
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            resp = self.query(interval, page_size, page, **extra)
            assert resp.status_code == 200, resp.text
            convs = resp.json().get("conversations")
            if not convs:
                return out
            out += convs
            page += 1


def error_ok(resp: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a Genesys error response: status, ErrorBody keys, correlation id header."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) >= {"message", "code", "status", "contextId", "details", "errors"}
    assert body["status"] == status
    assert body["contextId"] == resp.headers["ININ-Correlation-Id"]
    if code:
        assert body["code"] == code
    return dict(body)
