"""The bulk write path of `Store.record` against its row-by-row reference, on a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from service.errors import ReasonCode
from service.store import Accepted, Item, Rejected, SameBytes, Store, create_db_engine
from tests.integration.test_store import arrival, bundle, scalar

pytestmark = pytest.mark.integration

_TABLES = "ingest_ledger, content_owners, article_versions, articles, raw_bundles"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = create_db_engine(db_url, pool_size=8)
    yield Store(engine)
    engine.dispose()


def _batches() -> tuple[list[Item], list[Item]]:
    base = 0x0123_4567_89AB_CDEF
    old = bundle("a" * 16, "第一版。", simhash=base)
    kept = bundle("b" * 16, "早已存在。", simhash=base ^ (1 << 40))
    seed: list[Item] = [Accepted(arrival("s1"), old), Accepted(arrival("s2"), kept)]
    v2 = bundle("d" * 16, "第二版。", seq=2, simhash=7)
    mixed: list[Item] = [
        Accepted(arrival("m1"), bundle("a" * 16, "第二版。", seq=2, simhash=base ^ 0b11)),
        Accepted(arrival("m2"), bundle("c" * 16, "早已存在。")),  # duplicate of b (in the db)
        Accepted(arrival("m3"), bundle("d" * 16, "第一版。", simhash=7)),  # a's old content
        Accepted(arrival("m4"), v2),  # the same doc_id again in the batch: an update
        SameBytes(arrival("m5"), v2.article.doc_id, v2.raw_sha256, v2.size),
        Rejected(arrival("m6"), ReasonCode.BINARY, "NUL bytes", size=3),
        Accepted(arrival("m7"), bundle("e" * 16, "转载。", simhash=base ^ 0b1)),
        Accepted(arrival("m8"), bundle("f" * 16, "转载。")),  # duplicate inside the batch
        Accepted(arrival("m9"), bundle("d" * 16, "第三版。", seq=3)),
        SameBytes(arrival("m10"), old.article.doc_id, old.raw_sha256, old.size),  # moved on
        Accepted(arrival("m11"), kept),  # same fields: unchanged
    ]
    return seed, mixed


def _snapshot(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

        return {
            "articles": rows(
                "SELECT id, doc_id, version, duplicate_of, near_duplicate_of, body, authors, "
                "flags, raw_sha256, sim_band_0, simhash FROM articles ORDER BY id"
            ),
            "versions": rows("SELECT article_id, version, body FROM article_versions ORDER BY id"),
            "owners": rows("SELECT * FROM content_owners ORDER BY content_hash"),
            "ledger": rows(
                "SELECT name, doc_id, outcome, reason, article_id, version, size "
                "FROM ingest_ledger ORDER BY id"
            ),
            "raw": rows("SELECT sha256, name, size FROM raw_bundles ORDER BY sha256"),
        }


def test_bulk_and_row_by_row_agree(store: Store) -> None:
    seed, mixed = _batches()
    snapshots = []
    for bulk in (True, False):
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
        store._transaction(seed, None, bulk=bulk)
        recorded = store._transaction(mixed, None, bulk=bulk)
        snapshots.append(([(r.outcome, r.reason, r.version) for r in recorded], _snapshot(store)))
    assert snapshots[0] == snapshots[1]
    outcomes = [o for o, _, _ in snapshots[0][0]]
    assert outcomes == [
        "updated",
        "duplicate",
        "duplicate",
        "updated",
        "unchanged",
        "quarantined",
        "inserted",
        "duplicate",
        "updated",
        None,  # its doc_id moved on in this batch: the pipeline parses it after all
        "unchanged",
    ]


def test_a_doc_id_inserted_meanwhile_is_redone_row_by_row(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our lock scan misses an uncommitted insert; the bulk INSERT then finds the conflict."""
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    modes: list[bool] = []
    transaction = Store._transaction

    def spy(self: Store, items: Any, before_commit: Any, *, bulk: bool) -> Any:
        modes.append(bulk)
        return transaction(self, items, before_commit, bulk=bulk)

    monkeypatch.setattr(Store, "_transaction", spy)

    def hold() -> None:
        holding.set()
        release.wait(10)

    def other_writer() -> None:
        try:
            store.record([Accepted(arrival("o"), bundle("a" * 16, "另一个写入者。"))], hold)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    other = threading.Thread(target=other_writer)
    other.start()
    assert holding.wait(10)
    result: list[Any] = []
    ours = threading.Thread(
        target=lambda: result.extend(
            store.record([Accepted(arrival("u"), bundle("a" * 16, "我们的版本。", seq=2))])
        )
    )
    ours.start()
    ours.join(0.5)
    assert ours.is_alive()  # waiting on the other writer's uncommitted doc_id
    release.set()
    other.join(10)
    ours.join(10)
    assert not errors
    assert modes == [True, True, False]  # the other writer, our bulk try, our row-by-row redo
    assert [(r.outcome, r.version) for r in result] == [("updated", 2)]
    assert scalar(store, "SELECT count(*) FROM articles") == 1
    assert scalar(store, "SELECT body FROM articles") == "我们的版本。"
    assert scalar(store, "SELECT count(*) FROM article_versions") == 1


def test_near_duplicate_roots_agree_with_the_candidates(store: Store) -> None:
    import random

    from service.store import (
        NEAR_DUPLICATE_DISTANCE,
        near_duplicate_candidates,
        near_duplicate_roots,
        to_signed64,
    )

    rng = random.Random(11)
    centres = [rng.getrandbits(64) for _ in range(4)]

    def around(centre: int, flips: int) -> int:
        for bit in rng.sample(range(64), flips):
            centre ^= 1 << bit
        return centre

    fingerprints = [around(rng.choice(centres), rng.randint(0, 12)) for _ in range(80)]
    for start in range(0, 80, 20):  # several batches: later clusters point at earlier roots
        store.record(
            [
                Accepted(arrival(f"n{n}"), bundle(f"{n:016x}", f"稿件{n}。", simhash=value))
                for n, value in enumerate(fingerprints[start : start + 20], start)
            ]
        )
    probes = [around(rng.choice(centres), rng.randint(0, 10)) for _ in range(40)]
    with store.engine.connect() as conn:
        roots = near_duplicate_roots(conn, probes)
        candidates = near_duplicate_candidates(conn, probes)
    for probe in probes:
        signed = to_signed64(probe)
        near = [
            root
            for root, other in candidates.values()
            if ((signed ^ other) & (2**64 - 1)).bit_count() <= NEAR_DUPLICATE_DISTANCE
        ]
        assert roots.get(signed) == (min(near) if near else None)
    assert any(roots.values())
