"""Requeue round trip: quarantined, fixed by hand, requeued, ingested (Pipeline and CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import structlog

from service.cli import main
from service.inbox import Folders
from service.pipeline import Pipeline
from service.store import Store
from tests.conftest import SEEDS
from tests.integration.conftest import drain

pytestmark = pytest.mark.integration

SEED = sorted(SEEDS.glob("*.txt"))[1]


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """main() points structlog at this test's captured stderr: undo it for the next tests."""
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("cli_logging")
def test_quarantine_fix_requeue_ingest(
    setup: tuple[Pipeline, Folders, Store],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pipeline, folders, store = setup
    (folders.inbox / SEED.name).write_bytes(b"")  # the crawler saved an empty page
    (folders.inbox / "notes.txt").write_bytes(SEED.read_bytes())  # and a badly named one
    assert sorted(drain(pipeline).values()) == ["quarantined", "quarantined"]
    report = json.loads((folders.quarantine / f"{SEED.name}.error.json").read_text())
    assert report["reason"] == "empty"

    # The fix: the page is fetched again into the quarantined file.
    (folders.quarantine / SEED.name).write_bytes(SEED.read_bytes())
    monkeypatch.setenv("NEWSDROP_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSDROP_DATA_DIR", str(folders.inbox.parent))
    monkeypatch.setenv("NEWSDROP_LOG_FORMAT", "json")
    assert main(["requeue", "--reason", "empty"]) == 0
    out = capsys.readouterr().out
    assert f"requeued  quarantine/{SEED.name} -> inbox/{SEED.name}  (empty)" in out
    assert "1 requeued, 0 skipped" in out
    assert sorted(p.name for p in folders.quarantine.iterdir()) == [
        "notes.txt",
        "notes.txt.error.json",
    ]

    assert list(drain(pipeline).values()) == ["inserted"]
    with store.engine.connect() as conn:
        outcomes = conn.execute(
            sa.text("SELECT outcome, reason FROM ingest_ledger WHERE name = :n ORDER BY id"),
            {"n": SEED.name},
        ).all()
    assert [tuple(o) for o in outcomes] == [("quarantined", "empty"), ("inserted", None)]

    # A name that cannot be fixed by requeueing stays, and asking for it says so.
    assert main(["requeue", "--json", "notes.txt", "../etc/passwd"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["name"], line["moved"]) for line in lines] == [
        ("notes.txt", True),
        ("../etc/passwd", False),
    ]
    # bad_name again: the name was the problem
    assert list(drain(pipeline).values()) == ["quarantined"]
