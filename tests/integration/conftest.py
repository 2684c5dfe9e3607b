"""A Pipeline on real folders and the test database, fed the way the daemon feeds it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.inbox import Folders, Inbox
from service.metrics import Metrics
from service.pipeline import Parser, Pipeline
from service.store import Store, create_db_engine


@contextlib.contextmanager
def pipeline_on(root: Path, db_url: str, parser: Parser) -> Iterator[tuple[Pipeline, Store]]:
    """A pipeline with `parser` on fresh folders under `root`, and its store."""
    data = root / "data"
    folders = Folders(data / "inbox", data / "processing", data / "processed", data / "quarantine")
    folders.ensure()
    engine = create_db_engine(db_url)
    store = Store(engine)
    try:
        yield Pipeline(Inbox(folders, 16 * 1024 * 1024), store, parser, Metrics()), store
    finally:
        engine.dispose()


@pytest.fixture
def setup(tmp_path: Path, db_url: str) -> Iterator[tuple[Pipeline, Folders, Store]]:
    """An in-process pipeline (no pool) on fresh folders, and its store."""
    with pipeline_on(tmp_path, db_url, Parser(1)) as (pipeline, store):
        yield pipeline, pipeline.inbox.folders, store


def drain(pipeline: Pipeline) -> dict[str, str]:
    """Claim and process whatever waits in the inbox, as the daemon would: name -> outcome."""
    claims = [c for name, _ in list(pipeline.inbox.scan()) if (c := pipeline.inbox.claim(name))]
    return {r.name: r.outcome for r in pipeline.process(sorted(claims, key=lambda c: c.name))}
