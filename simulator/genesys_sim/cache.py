"""Small thread-safe LRU caches bounded by entry count or by bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class LRU:
    """LRU bounded by ``max_items`` and by ``max_bytes`` (sizes given on ``put``)."""

    def __init__(self, max_items: int = 1_000_000, max_bytes: int = 1 << 62) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            self._data.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: Any, size: int = 0) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._data and (len(self._data) > self.max_items or self._bytes > self.max_bytes):
                _k, (_v, s) = self._data.popitem(last=False)
                self._bytes -= s

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)
