"""Baselines the tap is measured against, over the same simulator pages.

- ``bare_loop``: the least a Python extractor can do — requests + json, each conversation written
  as one JSON line. No validation, no retries, sequential.
- ``tutorial_loop``: a faithful port of the loop in the tutorial this project grew from (an
  outside text, not in this repository), moved onto the real response shape
  (``conversations``/``totalHits`` instead of ``entities``/``pageCount``): sequential, a 0.5 s
  sleep after every page, a fixed 8 s sleep on every 429 without limit, all records kept in memory.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

import requests

TUTORIAL_PAGE_SLEEP_S = 0.5
TUTORIAL_429_SLEEP_S = 8.0  # base_delay * 2 ** (max_retries - 1) = 2 * 2**2


@dataclass
class LoopResult:
    """What a baseline loop did."""

    records: int = 0
    pages: int = 0
    requests: int = 0
    throttled: int = 0
    seconds: float = 0.0
    kept: list[dict] = field(default_factory=list, repr=False)
    #: seconds since the loop started, after each page
    page_times: list[float] = field(default_factory=list, repr=False)


def fetch_token(login_url: str, client_id: str, client_secret: str) -> str:
    """Client-credentials token, as every baseline needs one."""
    response = requests.post(
        f"{login_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _query(interval: str, page_number: int, page_size: int) -> dict:
    return {
        "interval": interval,
        "order": "asc",
        "orderBy": "conversationStart",
        "paging": {"pageSize": page_size, "pageNumber": page_number},
    }


def bare_loop(
    api_url: str, token: str, intervals: Iterable[str], sink: IO[str], page_size: int = 100
) -> LoopResult:
    """Sequential requests + json; each conversation written as a JSON line to ``sink``."""
    result = LoopResult()
    started = time.perf_counter()
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{api_url}/api/v2/analytics/conversations/details/query"
        for interval in intervals:
            page_number = 1
            while True:
                response = session.post(url, json=_query(interval, page_number, page_size))
                result.requests += 1
                response.raise_for_status()
                body = response.json()
                conversations = body.get("conversations") or []
                if not conversations:
                    break
                result.pages += 1
                for conversation in conversations:
                    sink.write(json.dumps(conversation))
                    sink.write("\n")
                result.records += len(conversations)
                if page_number >= math.ceil(body.get("totalHits", 0) / page_size):
                    break
                page_number += 1
    result.seconds = time.perf_counter() - started
    return result


def tutorial_loop(
    api_url: str,
    token: str,
    intervals: Iterable[str],
    page_size: int = 100,
    max_pages: int | None = None,
) -> LoopResult:
    """The tutorial's ``fetch_all_conversations``, on the real envelope (see module docstring)."""
    result = LoopResult()
    started = time.perf_counter()
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{api_url}/api/v2/analytics/conversations/details/query"
        for interval in intervals:
            current_page = 1
            while max_pages is None or result.pages < max_pages:
                response = session.post(url, json=_query(interval, current_page, page_size))
                result.requests += 1
                if response.status_code == 429:
                    result.throttled += 1
                    time.sleep(TUTORIAL_429_SLEEP_S)
                    continue
                if response.status_code == 400:
                    break
                response.raise_for_status()
                body = response.json()
                conversations = body.get("conversations") or []
                if not conversations:
                    break
                result.kept.extend(conversations)
                result.pages += 1
                result.page_times.append(time.perf_counter() - started)
                result.records += len(conversations)
                total = body.get("totalHits")
                page_count = math.ceil(total / page_size) if total is not None else None
                if page_count is not None and current_page >= page_count:
                    break
                current_page += 1
                time.sleep(TUTORIAL_PAGE_SLEEP_S)
            if max_pages is not None and result.pages >= max_pages:
                break
    result.seconds = time.perf_counter() - started
    return result
