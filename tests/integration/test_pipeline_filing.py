"""What the pipeline reports per file after COMMIT: one log line, counters, last-ingest time."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from service.inbox import Folders
from service.pipeline import Pipeline
from service.store import Store
from tests.conftest import SEEDS
from tests.integration.conftest import drain

pytestmark = pytest.mark.integration


def _sample(pipeline: Pipeline, name: str, **labels: str) -> float | None:
    value: float | None = pipeline.metrics.registry.get_sample_value(name, labels)
    return value


def test_one_line_and_one_count_per_file_and_the_last_ingest_time(
    setup: tuple[Pipeline, Folders, Store],
) -> None:
    pipeline, folders, _ = setup
    seeds = sorted(SEEDS.glob("*.txt"))[:3]
    (folders.inbox / "empty.txt").write_bytes(b"")  # a bad name, quarantined
    for seed in seeds:
        (folders.inbox / seed.name).write_bytes(seed.read_bytes())
    assert _sample(pipeline, "newsdrop_last_ingest_timestamp_seconds") == 0.0

    with capture_logs() as lines:
        assert sorted(drain(pipeline).values()) == ["inserted"] * 3 + ["quarantined"]
    done = [line for line in lines if line["event"] == "ingest.file_done"]
    assert sorted(line["name"] for line in done) == sorted(["empty.txt", *(s.name for s in seeds)])
    assert {line["outcome"] for line in done} == {"inserted", "quarantined"}
    assert _sample(pipeline, "newsdrop_files_total", outcome="inserted", reason="") == 3
    assert _sample(pipeline, "newsdrop_files_total", outcome="quarantined", reason="bad_name") == 1
    assert _sample(pipeline, "newsdrop_ingest_duration_seconds_count") == 4
    stamped = _sample(pipeline, "newsdrop_last_ingest_timestamp_seconds")
    assert stamped is not None
    assert stamped > 0

    # The same bytes again: counted as unchanged, each file still logged once.
    for seed in seeds:
        (folders.inbox / seed.name).write_bytes(seed.read_bytes())
    with capture_logs() as lines:
        assert list(drain(pipeline).values()) == ["unchanged"] * 3
    assert len([line for line in lines if line["event"] == "ingest.file_done"]) == 3
    assert _sample(pipeline, "newsdrop_files_total", outcome="unchanged", reason="") == 3
    assert _sample(pipeline, "newsdrop_files_total", outcome="inserted", reason="") == 3
    again = _sample(pipeline, "newsdrop_last_ingest_timestamp_seconds")
    assert again is not None
    assert again >= stamped


def test_a_batch_of_quarantined_files_alone_leaves_the_last_ingest_time(
    setup: tuple[Pipeline, Folders, Store],
) -> None:
    pipeline, folders, _ = setup
    (folders.inbox / "notes.txt").write_bytes(b"not a bundle name")
    assert list(drain(pipeline).values()) == ["quarantined"]
    assert _sample(pipeline, "newsdrop_last_ingest_timestamp_seconds") == 0.0
    assert _sample(pipeline, "newsdrop_files_total", outcome="quarantined", reason="bad_name") == 1
