"""A Pipeline on real folders and the test database, fed the way the daemon feeds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.inbox import Folders, Inbox
from service.metrics import Metrics
from service.pipeline import Parser, Pipeline
from service.store import Store, create_db_engine


@pytest.fixture
def setup(tmp_path: Path, db_url: str) -> Iterator[tuple[Pipeline, Folders, Store]]:
    """An in-process pipeline (no pool) on fresh folders, and its store."""
    data = tmp_path / "data"
    folders = Folders(data / "inbox", data / "processing", data / "processed", data / "quarantine")
    folders.ensure()
    engine = create_db_engine(db_url)
    store = Store(engine)
    inbox = Inbox(folders, 16 * 1024 * 1024)
    yield Pipeline(inbox, store, Parser(1), Metrics()), folders, store
    engine.dispose()


def drain(pipeline: Pipeline) -> list[str]:
    """Claim and process whatever waits in the inbox, as the daemon would."""
    claims = [c for name, _ in list(pipeline.inbox.scan()) if (c := pipeline.inbox.claim(name))]
    return [r.outcome for r in pipeline.process(claims)]
