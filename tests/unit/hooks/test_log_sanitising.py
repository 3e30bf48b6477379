"""Job log lines reach task logs without terminal control sequences: a job must not drive the reader's terminal."""

from __future__ import annotations

import pytest

from airflow_batch_plus.hooks.logs import LogLine, sanitise
from airflow_batch_plus.jobs import LogStream


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m text", "red text"),
        ("\x1b[2J\x1b[Hcleared screen", "cleared screen"),
        ("\x1b]0;new title\x07after", "after"),
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("progress 10%\rprogress 100%", "progress 10%progress 100%"),
        ("bell\x07 and backspace\x08 and null\x00", "bell and backspace and null"),
        ("c1 csi \x9b31m", "c1 csi 31m"),
        ("keeps\ttabs\nand newlines", "keeps\ttabs\nand newlines"),
        ("plain ünïcode ✓ line", "plain ünïcode ✓ line"),
        ("\x1b(Bcharset switch", "charset switch"),
    ],
    ids=[
        "colour",
        "clear-screen",
        "window-title",
        "hyperlink",
        "carriage-return",
        "c0",
        "c1",
        "tabs",
        "unicode",
        "charset",
    ],
)
def test_control_sequences_are_removed(raw: str, shown: str) -> None:
    assert sanitise(raw) == shown


def test_rendered_lines_are_sanitised_with_their_label() -> None:
    stream = LogStream("/aws/batch/job", "def/default/abc", label="[3]")
    line = LogLine(stream, 1, "\x1b[1mbold\x1b[0m", "e1")
    assert line.render() == "[3] bold"
