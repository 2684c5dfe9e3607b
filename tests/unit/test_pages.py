"""Own pages in the style of other Chinese news sites: tests/fixtures/pages/NNN_<id>.txt + .json.

Each .json names the expected fields. `source`, `section` and `dateline_place` may list
several acceptable answers (null: no value is acceptable); body rules are substring checks.
A page expected to be rejected has `error` (a reason code) instead.
"""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from service.errors import BundleRejected
from service.normalize import explain
from service.parse import parse_bundle

pytestmark = pytest.mark.unit

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
CASES = sorted(PAGES.glob("*.txt"))
CHINA = timezone(timedelta(hours=8))


def _expected(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_suffix(".json").read_text("utf-8"))
    return data


def _accepts(expected: Any, actual: Any) -> bool:
    return actual in expected if isinstance(expected, list) else actual == expected


def test_there_are_enough_pages() -> None:
    assert len(CASES) >= 22
    for path in CASES:
        assert path.with_suffix(".json").exists(), path.name


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.name[:3])
def test_page(path: Path) -> None:
    expected = _expected(path)
    data = path.read_bytes()
    if "error" in expected:
        with pytest.raises(BundleRejected) as caught:
            parse_bundle(path.name, data)
        assert caught.value.reason == expected["error"]
        return
    bundle = parse_bundle(path.name, data)
    article = bundle.article
    assert bundle.encoding == expected["encoding"]
    assert article.title == expected["title"]
    assert article.subtitle == expected["subtitle"]
    assert list(article.authors) == expected["authors"]
    assert _accepts(expected["source"], article.source)
    assert _accepts(expected["section"], article.section)
    assert article.script == expected["script"]
    if "dateline_place" in expected:
        assert _accepts(expected["dateline_place"], article.dateline_place)
    if "url" in expected:
        assert article.url == expected["url"]
    if expected["published"] is None:
        assert article.published_at is None
    else:
        assert article.published_at is not None
        local = article.published_at.astimezone(CHINA)
        assert local.date().isoformat() == expected["published"]
        if "published_time" in expected:
            assert local.strftime("%H:%M") == expected["published_time"]
    body = article.body
    assert body.startswith(expected["body_starts_with"])
    assert body.endswith(expected["body_ends_with"])
    for text in expected.get("body_contains", []):
        assert text in body, text
    for text in expected.get("body_contains_once", []):
        assert body.count(text) == 1, text
    for text in expected.get("body_not_contains", []):
        assert text not in body, text
    for flag in expected.get("flags_include", []):
        assert flag in article.flags
    assert "\n\n\n" not in body
    assert "\r" not in body


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.name[:3])
def test_explain_covers_every_line(path: Path) -> None:
    text = parse_text(path)
    decisions = explain(text)
    assert [d.line_no for d in decisions] == list(range(1, len(decisions) + 1))
    assert len(decisions) == len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    for decision in decisions:
        assert decision.rule
        assert decision.reason
        assert decision.kept == (decision.rule in ("content", "content_joined"))


def parse_text(path: Path) -> str:
    from service.decode import decode

    return decode(path.read_bytes()).text
