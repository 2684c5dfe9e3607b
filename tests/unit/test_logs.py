"""Log lines: secrets redacted, control characters escaped, events asserted by name."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from service.logs import (
    _NEEDS_CLEANING,
    _clean,
    _escape_controls,
    _needs_cleaning,
    configure_logging,
    redact_processor,
    redact_text,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://user:hunter2@db:5432/x", "postgresql://user:***@db:5432/x"),
        ("connect to postgres://u:p%40ss@h/d failed", "connect to postgres://u:***@h/d failed"),
        ("password=hunter2 host=db", "password=*** host=db"),
        ("PASSWORD: hunter2", "PASSWORD: ***"),
        ("no secret here", "no secret here"),
        ("postgresql://user@db/x", "postgresql://user@db/x"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_json_lines_never_carry_a_password_or_raw_control_characters() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    log = structlog.get_logger("newsdrop")
    log.error(
        "database.down",
        error="could not connect to postgresql://newsdrop:s3cr3t@db/news",
        database_url="postgresql://newsdrop:s3cr3t@db/news",
        name="a\nb\x1b[31m.txt",
    )
    structlog.reset_defaults()
    line = out.getvalue()
    assert "s3cr3t" not in line
    assert "\x1b" not in line
    event = json.loads(line)
    assert event["event"] == "database.down"
    assert event["database_url"] == "***"
    assert event["name"] == "a\\x0ab\\x1b[31m.txt"
    assert event["level"] == "error"
    assert "timestamp" in event


def test_console_format_on_request() -> None:
    out = io.StringIO()
    configure_logging("console", "warning", stream=out)
    log = structlog.get_logger("newsdrop")
    log.info("ingest.file_done", name="x")  # below the level
    log.warning("watcher.polling_fallback", cause="ENOSPC")
    structlog.reset_defaults()
    text = out.getvalue()
    assert "ingest.file_done" not in text
    assert "watcher.polling_fallback" in text
    assert not text.startswith("{")


def test_events_are_captured_by_name() -> None:
    with capture_logs() as logs:
        structlog.get_logger("newsdrop").info("inbox.scanned", files=3, startup=True)
    assert logs == [{"event": "inbox.scanned", "files": 3, "startup": True, "log_level": "info"}]


_PIECES = ["a", "中", "@", "://", "x:", "pass", "PassWord", "pwd", "token", "Secret", "api_key"]
_PIECES += ["=", ": ", " ", "\n", "\x1b", "\x85", "&", "postgresql", "u", "h/d"]


@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_the_fast_path_cleans_exactly_like_the_full_one(text: str) -> None:
    full = _escape_controls(redact_text(text))
    assert _clean(text) == full


_VALUES = st.one_of(
    st.lists(st.sampled_from(_PIECES), max_size=6).map("".join),
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
    st.lists(st.lists(st.sampled_from(_PIECES), max_size=4).map("".join), max_size=2),
)


@given(st.dictionaries(st.sampled_from(["name", "url", "error", "ms", "dsn", "x"]), _VALUES))
def test_a_whole_event_is_cleaned_as_its_values_would_be_one_by_one(
    event: dict[str, object],
) -> None:
    slow = {}
    for key, value in event.items():
        if key in {"url", "dsn"} and value is not None and "://" in str(value):
            slow[key] = "***"
        else:
            slow[key] = _clean(value)
    assert redact_processor(None, "info", dict(event)) == slow


@given(
    st.lists(
        st.one_of(
            st.sampled_from([*_PIECES, "\u017f", "PAS\u017fWORD", "\u212a", "\x7f", "\x9f", "\t"]),
            st.text(max_size=4),
            st.text(alphabet=st.characters(max_codepoint=127), max_size=6),
        ),
        max_size=8,
    ).map("".join)
)
def test_the_string_method_test_agrees_with_the_pattern(text: str) -> None:
    assert _needs_cleaning(text) == (_NEEDS_CLEANING.search(text) is not None)
