"""Parsing ahead of the claim: a head start only, never a different outcome (real PostgreSQL)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.parse import parse_bundle
from service.pipeline import Parser, Pipeline
from service.pool import Parsing
from tests.conftest import SEEDS
from tests.integration.conftest import drain, pipeline_on
from tests.support import query

pytestmark = pytest.mark.integration

PAGES = sorted(SEEDS.glob("*.txt"))


class _CountingParser(Parser):
    """Parses in-process and remembers which names it was given."""

    def __init__(self) -> None:
        super().__init__(1)
        self.parsed: list[str] = []

    def submit(self, jobs: list[tuple[str, bytes]]) -> Parsing:
        self.parsed.extend(name for name, _ in jobs)
        return super().submit(jobs)


@pytest.fixture
def pipeline(tmp_path: Path, db_url: str) -> Iterator[Pipeline]:
    with pipeline_on(tmp_path, db_url, _CountingParser()) as (pipeline, _):
        yield pipeline


def _drop(pipeline: Pipeline, name: str, data: bytes) -> None:
    (pipeline.inbox.folders.inbox / name).write_bytes(data)


def test_a_file_parsed_ahead_is_not_parsed_again(pipeline: Pipeline, db_url: str) -> None:
    parser = pipeline.parser
    assert isinstance(parser, _CountingParser)
    names = [f"00{i}_{'ab'[i % 2] * 15}{i}.txt" for i in range(3)]
    for name, page in zip(names, PAGES, strict=False):
        _drop(pipeline, name, page.read_bytes())
    assert pipeline.look_ahead(names) == 3
    assert sorted(drain(pipeline).values()) == ["inserted"] * 3
    assert parser.parsed == names  # once each, ahead of the claim
    assert not pipeline.ahead
    titles = query(db_url, "SELECT count(*) FROM articles WHERE title <> ''")
    assert titles == 3


def test_a_file_written_to_after_its_look_ahead_is_parsed_as_claimed(
    pipeline: Pipeline, db_url: str
) -> None:
    parser = pipeline.parser
    assert isinstance(parser, _CountingParser)
    name = f"001_{'c' * 16}.txt"
    _drop(pipeline, name, PAGES[0].read_bytes()[:2000])  # a slow copy, half way
    pipeline.look_ahead([name])
    _drop(pipeline, name, PAGES[0].read_bytes())
    assert drain(pipeline) == {name: "inserted"}
    assert parser.parsed == [name, name]
    stored = query(db_url, "SELECT raw_sha256 FROM articles WHERE doc_id = :d", d="c" * 16)
    assert stored == hashlib.sha256(PAGES[0].read_bytes()).hexdigest()


def test_current_bytes_and_refused_files_are_not_parsed_ahead(pipeline: Pipeline) -> None:
    parser = pipeline.parser
    assert isinstance(parser, _CountingParser)
    name = f"001_{'d' * 16}.txt"
    _drop(pipeline, name, PAGES[1].read_bytes())
    assert drain(pipeline) == {name: "inserted"}
    _drop(pipeline, name, PAGES[1].read_bytes())  # dropped again, unchanged
    (pipeline.inbox.folders.inbox / "notes.txt").write_bytes(PAGES[2].read_bytes())  # bad name
    (pipeline.inbox.folders.inbox / f"002_{'e' * 16}.txt").symlink_to(PAGES[2])
    parser.parsed.clear()
    assert pipeline.look_ahead([name, "notes.txt", f"002_{'e' * 16}.txt"]) == 0
    assert parser.parsed == []
    assert sorted(pipeline.ahead) == sorted([name, "notes.txt", f"002_{'e' * 16}.txt"])
    outcomes = drain(pipeline)
    assert outcomes == {
        name: "unchanged",
        "notes.txt": "quarantined",
        f"002_{'e' * 16}.txt": "quarantined",
    }
    assert parser.parsed == []


def test_the_bytes_parsed_ahead_are_counted_until_claimed_or_forgotten(
    pipeline: Pipeline,
) -> None:
    pages = [page.read_bytes() for page in PAGES[:3]]
    names = [f"00{i}_{'f' * 15}{i}.txt" for i in range(3)]
    for name, page in zip(names, pages, strict=True):
        _drop(pipeline, name, page)
    _drop(pipeline, "notes.txt", pages[0])  # refused for its name: not counted
    assert pipeline.look_ahead([*names, "notes.txt"]) == 3
    assert pipeline.ahead_bytes == sum(map(len, pages))
    assert pipeline.look_ahead(names[:1]) == 1  # read again: replaces, never adds up
    assert pipeline.ahead_bytes == sum(map(len, pages))
    pipeline.forget_ahead([names[2], "notes.txt"])
    assert pipeline.ahead_bytes == len(pages[0]) + len(pages[1])
    assert drain(pipeline)[names[0]] == "inserted"
    assert pipeline.ahead_bytes == 0
    _drop(pipeline, names[0], pages[0])  # dropped again: current, so nothing is held for it
    assert pipeline.look_ahead(names[:1]) == 0
    assert pipeline.ahead_bytes == 0


def test_bundles_from_the_pool_are_stored_with_their_whole_text(
    tmp_path: Path, db_url: str
) -> None:
    # Two workers, so the bundles cross the pipe (without their text) and come back whole.
    parser = Parser(2)
    parser.start()
    try:
        with pipeline_on(tmp_path, db_url, parser) as (pipeline, _):
            pages = {}
            for i in range(12):  # at least _POOL_MIN_BATCH: the pool, not in-process
                page = PAGES[i % len(PAGES)].read_bytes()
                if i % 3 == 1:
                    page = page.decode("utf-8").encode("gb18030")
                elif i % 3 == 2:
                    page = b"\xef\xbb\xbf" + page
                name = f"{i:03d}_{i:016x}.txt"
                _drop(pipeline, name, page)
                pages[name] = page
            # The same story again in another encoding is a duplicate: its raw bundle is kept too.
            assert set(drain(pipeline).values()) == {"inserted", "duplicate"}
    finally:
        parser.stop()
    for name, page in pages.items():
        stored = query(db_url, "SELECT text FROM raw_bundles WHERE name = :n", n=name)
        assert stored == parse_bundle(name, page).text
