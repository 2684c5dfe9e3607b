"""Every rule of the golden file, for every seed bundle (tests/fixtures/golden_seeds.json)."""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from service.article import Article
from service.parse import parse_bundle

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN: dict[str, Any] = json.loads((FIXTURES / "golden_seeds.json").read_text("utf-8"))
SEEDS = sorted(name for name in GOLDEN if name.endswith(".txt"))
CHINA = timezone(timedelta(hours=8))


@pytest.fixture(scope="module", params=SEEDS)
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], Article]:
    name: str = request.param
    data = (FIXTURES / "seeds" / name).read_bytes()
    return GOLDEN[name], parse_bundle(name, data).article


def test_seed_files_are_all_covered() -> None:
    on_disk = sorted(path.name for path in (FIXTURES / "seeds").glob("*.txt"))
    assert on_disk == SEEDS


def test_identity(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    assert article.seq == expected["seq"]
    assert article.doc_id == expected["doc_id"]
    assert article.script == expected["script"]


def test_title_and_subtitle(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    assert article.title == expected["title"]
    if "subtitle" in expected:
        assert article.subtitle == expected["subtitle"]


def test_published(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    if expected["published"] is None:
        assert article.published_at is None
        return
    assert article.published_at is not None
    assert article.published_at.tzinfo is not None
    local = article.published_at.astimezone(CHINA)
    assert local.date().isoformat() == expected["published"]
    if "published_time" in expected:
        assert local.strftime("%H:%M") == expected["published_time"]


def test_authors(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    assert list(article.authors) == expected["authors"]


def test_source_section_and_place(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    assert article.source in expected["source"]
    assert article.section in expected["section"]
    if "dateline_place" in expected:
        assert article.dateline_place == expected["dateline_place"]
    if "url" in expected:
        assert article.url == expected["url"]


def test_body_edges(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    if "body_starts_with" in expected:
        assert article.body.startswith(expected["body_starts_with"])
    if "body_starts_with_any" in expected:
        assert article.body.startswith(tuple(expected["body_starts_with_any"]))
    assert article.body.endswith(expected["body_ends_with"])


def test_body_contents(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    for text in expected.get("body_contains", []):
        assert text in article.body
    for text in expected.get("body_contains_once", []):
        assert article.body.count(text) == 1, text
    for text in expected.get("body_not_contains", []):
        assert text not in article.body, text


def test_body_is_clean(case: tuple[dict[str, Any], Article]) -> None:
    _, article = case
    assert "\n\n\n" not in article.body
    assert article.body == article.body.strip()
    for paragraph in article.body.split("\n\n"):
        assert paragraph
        assert paragraph == paragraph.strip()


def test_flags(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    for flag in expected.get("flags_include", []):
        assert flag in article.flags


def test_mojibake_examples(case: tuple[dict[str, Any], Article]) -> None:
    expected, article = case
    examples = {
        garbled: repaired
        for garbled, repaired in expected.get("mojibake_repair_examples", {}).items()
        if garbled != "about"
    }
    for garbled, repaired in examples.items():
        assert garbled not in article.body
        if "mojibake_repaired" in article.flags:
            assert repaired in article.body
        else:
            assert "mojibake" in article.flags
