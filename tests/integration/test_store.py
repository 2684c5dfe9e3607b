"""The store against a real PostgreSQL: upsert rules, ledger, duplicates, concurrency."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from service.article import Article, ParsedBundle
from service.errors import ReasonCode
from service.store import (
    Accepted,
    Arrival,
    Rejected,
    SameBytes,
    Store,
    create_db_engine,
    simhash_bands,
    to_signed64,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = create_db_engine(db_url, pool_size=8)
    yield Store(engine)
    engine.dispose()


def bundle(
    doc_id: str, body: str, *, title: str = "标题", seq: int = 1, simhash: int = 0
) -> ParsedBundle:
    raw = f"{title}\n\n{body}".encode()
    article = Article(
        doc_id=doc_id,
        seq=seq,
        title=title,
        subtitle=None,
        body=body,
        authors=("张三",),
        source="新华社",
        published_at=None,
        section=None,
        dateline_place=None,
        url=None,
        script="zh-Hans",
        encoding="utf-8",
        flags=(),
        content_hash=hashlib.sha256(f"{title}|{body}".encode()).hexdigest(),
        simhash=simhash,
        normalizer_version="test",
    )
    return ParsedBundle(
        name=f"{seq:03d}_{doc_id}.txt",
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        text=raw.decode(),
        encoding="utf-8",
        article=article,
    )


_keys = iter(range(1_000_000))


def arrival(name: str = "x") -> Arrival:
    return Arrival(f"{name}:{next(_keys)}", name)


def scalar(store: Store, sql: str, **params: object) -> object:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def test_new_document_is_inserted_with_ledger_and_raw(store: Store) -> None:
    b = bundle("a" * 16, "正文第一段。")
    [rec] = store.record([Accepted(arrival(), b)])
    assert (rec.outcome, rec.version) == ("inserted", 1)
    assert scalar(store, "SELECT count(*) FROM articles") == 1
    assert scalar(store, "SELECT count(*) FROM raw_bundles") == 1
    assert scalar(store, "SELECT outcome FROM ingest_ledger") == "inserted"
    assert (
        scalar(store, "SELECT count(*) FROM provenance WHERE article_id = :i", i=rec.article_id)
        == 1
    )


def test_same_bytes_again_is_unchanged_without_writing(store: Store) -> None:
    b = bundle("a" * 16, "正文。")
    store.record([Accepted(arrival(), b)])
    before = scalar(store, "SELECT updated_at FROM articles")
    assert store.same_bytes_as_current([(b.article.doc_id, b.raw_sha256)]) == {
        (b.article.doc_id, b.raw_sha256)
    }
    [rec] = store.record([SameBytes(arrival(), b.article.doc_id, b.raw_sha256, b.size)])
    [rec2] = store.record([Accepted(arrival(), b)])
    assert rec.outcome == rec2.outcome == "unchanged"
    assert scalar(store, "SELECT version FROM articles") == 1
    assert scalar(store, "SELECT updated_at FROM articles") == before
    assert scalar(store, "SELECT count(*) FROM article_versions") == 0
    assert scalar(store, "SELECT count(*) FROM ingest_ledger WHERE outcome='unchanged'") == 2


def test_new_content_for_a_doc_id_updates_and_keeps_history(store: Store) -> None:
    store.record([Accepted(arrival(), bundle("a" * 16, "第一版。"))])
    [rec] = store.record([Accepted(arrival(), bundle("a" * 16, "第二版。", seq=2))])
    assert (rec.outcome, rec.version) == ("updated", 2)
    assert scalar(store, "SELECT count(*) FROM articles") == 1
    assert scalar(store, "SELECT body FROM articles") == "第二版。"
    assert scalar(store, "SELECT body FROM article_versions WHERE version = 1") == "第一版。"
    assert store.counts()["versions"] == 2


def test_versions_inside_one_batch_apply_in_order(store: Store) -> None:
    recs = store.record(
        [Accepted(arrival(), bundle("b" * 16, f"版本{n}。", seq=n)) for n in range(1, 4)]
    )
    assert [r.outcome for r in recs] == ["inserted", "updated", "updated"]
    assert scalar(store, "SELECT version FROM articles") == 3
    assert scalar(store, "SELECT body FROM articles") == "版本3。"


def test_same_content_under_another_doc_id_is_a_duplicate(store: Store) -> None:
    [first] = store.record([Accepted(arrival(), bundle("a" * 16, "同一篇稿件。"))])
    [second] = store.record([Accepted(arrival(), bundle("b" * 16, "同一篇稿件。"))])
    assert second.outcome == "duplicate"
    assert (
        scalar(store, "SELECT duplicate_of FROM articles WHERE doc_id = :d", d="b" * 16)
        == first.article_id
    )
    assert scalar(store, "SELECT duplicate_of FROM articles WHERE doc_id = :d", d="a" * 16) is None


def test_near_duplicates_point_at_the_earliest_of_the_cluster(store: Store) -> None:
    base = 0x0123_4567_89AB_CDEF
    [first] = store.record([Accepted(arrival(), bundle("a" * 16, "一。", simhash=base))])
    [near] = store.record([Accepted(arrival(), bundle("b" * 16, "二。", simhash=base ^ 0b101))])
    [far] = store.record(
        [Accepted(arrival(), bundle("c" * 16, "三。", simhash=~base & (2**64 - 1)))]
    )
    rows = dict(
        store.engine.connect()
        .execute(sa.text("SELECT doc_id, near_duplicate_of FROM articles"))
        .all()
    )
    assert rows["a" * 16] is None
    assert rows["b" * 16] == first.article_id
    assert rows["c" * 16] is None
    assert near.outcome == far.outcome == "inserted"


def test_quarantine_is_recorded_with_its_reason(store: Store) -> None:
    [rec] = store.record([Rejected(arrival("bad"), ReasonCode.BINARY, "NUL bytes", size=3)])
    assert (rec.outcome, rec.reason) == ("quarantined", "binary")
    assert store.counts()["files"]["quarantined"] == 1


def test_a_replayed_arrival_is_recognised_not_applied_twice(store: Store) -> None:
    a = arrival("replay")
    store.record([Accepted(a, bundle("a" * 16, "第一版。"))])
    [rec] = store.record([Accepted(a, bundle("a" * 16, "不同的内容。"))])
    assert rec.replayed
    assert rec.outcome == "inserted"
    assert scalar(store, "SELECT body FROM articles") == "第一版。"
    assert scalar(store, "SELECT count(*) FROM ingest_ledger") == 1
    assert store.committed([a.arrival_key])[a.arrival_key].outcome == "inserted"


def test_failure_before_commit_leaves_nothing(store: Store) -> None:
    def boom() -> None:
        raise RuntimeError("crash right before COMMIT")

    with pytest.raises(RuntimeError):
        store.record([Accepted(arrival(), bundle("a" * 16, "正文。"))], before_commit=boom)
    assert scalar(store, "SELECT count(*) FROM articles") == 0
    assert scalar(store, "SELECT count(*) FROM ingest_ledger") == 0


@pytest.mark.parametrize("same_content", [False, True])
def test_concurrent_writers_never_create_two_rows_for_one_key(
    store: Store, same_content: bool
) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        body = "并发写入。" if same_content else f"并发写入{n}。"
        try:
            barrier.wait()
            store.record([Accepted(arrival(f"w{n}"), bundle("c" * 16, body, seq=n))])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert scalar(store, "SELECT count(*) FROM articles") == 1
    assert scalar(store, "SELECT count(*) FROM ingest_ledger") == 8
    version = scalar(store, "SELECT version FROM articles")
    assert version == (1 if same_content else 8)
    assert scalar(store, "SELECT count(*) FROM article_versions") == version - 1  # type: ignore[operator]


def test_concurrent_equal_content_has_one_owner(store: Store) -> None:
    barrier = threading.Barrier(6)

    def writer(n: int) -> None:
        barrier.wait()
        store.record([Accepted(arrival(), bundle(f"{n:016x}", "转载的同一稿件。"))])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert scalar(store, "SELECT count(*) FROM content_owners") == 1
    assert scalar(store, "SELECT count(*) FROM articles WHERE duplicate_of IS NULL") == 1
    assert scalar(store, "SELECT count(*) FROM articles") == 6


@pytest.mark.unit
def test_simhash_bands_round_trip() -> None:
    value = 0xFEDC_BA98_7654_3210
    bands = simhash_bands(value)
    rebuilt = sum(((b + 0x8000) & 0xFFFF) << (16 * i) for i, b in enumerate(bands))
    assert rebuilt == value
    assert to_signed64(value) < 0
    assert to_signed64(1) == 1
    assert all(-0x8000 <= b < 0x8000 for b in bands)


def test_committed_changes_are_notified(store: Store, db_url: str) -> None:
    import json

    import psycopg

    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN newsdrop_articles")
        bundles = [bundle(f"{n:016x}", f"稿件{n}。") for n in range(450)]
        recs = store.record([Accepted(arrival(), b) for b in bundles])
        store.record([Accepted(arrival(), bundles[0])])  # unchanged: nothing to announce
        ids: list[int] = []
        for note in listener.notifies(timeout=1.5):
            assert len(note.payload.encode()) < 8000
            ids.extend(json.loads(note.payload)["ids"])
    assert sorted(ids) == sorted(r.article_id for r in recs)


def test_vacuum_makes_fresh_articles_all_visible_for_index_only_probes(store: Store) -> None:
    with store.engine.begin() as conn:  # no autovacuum may do it first
        conn.execute(sa.text("ALTER TABLE articles SET (autovacuum_enabled = false)"))
    store.record(
        [Accepted(arrival(), bundle(f"{n:016x}", f"第{n}篇正文。", simhash=n)) for n in range(300)]
    )
    visible = "SELECT relallvisible FROM pg_class WHERE relname = 'articles'"
    assert scalar(store, visible) == 0  # fresh rows: the probes would read their heap pages
    store.vacuum_articles()
    assert scalar(store, visible) == scalar(
        store, "SELECT relpages FROM pg_class WHERE relname = 'articles'"
    )
    assert scalar(store, visible) > 0
