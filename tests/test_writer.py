"""The tap's message writer: RECORD lines buffered, never behind a STATE, nothing lost at exit."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from singer_sdk.singerlib.encoding.simple import RecordMessage, StateMessage

from tap_genesys_analytics.tap import TapGenesysAnalytics
from tap_genesys_analytics.writer import FLUSH_BYTES, BufferedMsgSpecWriter


def lines(capsys: pytest.CaptureFixture[bytes]) -> list[dict[str, Any]]:
    """The Singer messages written to stdout since the last call."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def record(n: int, size: int = 10) -> RecordMessage:
    return RecordMessage(stream="s", record={"id": n, "pad": "x" * size})


def test_the_tap_writes_with_the_buffered_msgspec_writer() -> None:
    assert TapGenesysAnalytics.message_writer_class is BufferedMsgSpecWriter


def test_records_wait_in_the_buffer_until_a_state_writes_them_first(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    writer = BufferedMsgSpecWriter()
    for n in range(3):
        writer.write_message(record(n))
    assert lines(capsysbinary) == []
    writer.write_message(StateMessage(value={"bookmarks": {"s": {"v": 1}}}))
    written = lines(capsysbinary)
    assert [m["type"] for m in written] == ["RECORD", "RECORD", "RECORD", "STATE"]
    assert [m["record"]["id"] for m in written[:3]] == [0, 1, 2]


def test_records_are_written_in_blocks_once_the_buffer_is_full(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    writer = BufferedMsgSpecWriter()
    size = FLUSH_BYTES // 4
    for n in range(4):
        writer.write_message(record(n, size))
    assert [m["record"]["id"] for m in lines(capsysbinary)] == [0, 1, 2, 3]
    writer.write_message(record(4))
    assert lines(capsysbinary) == []
    writer.flush()
    assert [m["record"]["id"] for m in lines(capsysbinary)] == [4]


def test_buffered_records_reach_stdout_when_the_process_exits() -> None:
    code = (
        "from singer_sdk.singerlib.encoding.simple import RecordMessage\n"
        "from tap_genesys_analytics.writer import BufferedMsgSpecWriter\n"
        "w = BufferedMsgSpecWriter()\n"
        "for n in range(5):\n"
        "    w.write_message(RecordMessage(stream='s', record={'id': n}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, timeout=60
    ).stdout
    assert [json.loads(line)["record"]["id"] for line in out.splitlines()] == [0, 1, 2, 3, 4]
