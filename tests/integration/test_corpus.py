"""Corpus operations against a real PostgreSQL: reprocess, near-duplicate clusters, export."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import io
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
import structlog

from service import corpus
from service.article import ParsedBundle
from service.errors import BundleRejected, ConfigError, ReasonCode
from service.identity import content_hash, simhash
from service.parse import parse_bundle
from service.store import (
    NEAR_DUPLICATE_DISTANCE,
    Accepted,
    Arrival,
    Store,
    create_db_engine,
    to_signed64,
)
from tests.conftest import SEEDS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = create_db_engine(db_url, pool_size=8)
    yield Store(engine)
    engine.dispose()


def ingest(store: Store, files: list[tuple[str, bytes]]) -> list[Any]:
    """Record bundles as the daemon would (one batch, one arrival each)."""
    items = [
        Accepted(Arrival(f"{name}:{uuid.uuid4().hex}", name), parse_bundle(name, data))
        for name, data in files
    ]
    return store.record(items)


def seeds() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(SEEDS.glob("*.txt"))]


def rows(store: Store, sql: str, **params: Any) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def scalar(store: Store, sql: str, **params: Any) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def normalizer_v2(name: str, data: bytes) -> ParsedBundle:
    """A deliberate rule change: 人才 is now written 人材, under a new normalizer version."""
    bundle = parse_bundle(name, data)
    old = bundle.article
    body = old.body.replace("人才", "人材")
    article = dataclasses.replace(
        old,
        body=body,
        content_hash=content_hash(old.title, body),
        simhash=simhash(old.title, body),
        normalizer_version="2.0.0-test",
    )
    return dataclasses.replace(bundle, article=article)


def only_version_bumped(name: str, data: bytes) -> ParsedBundle:
    bundle = parse_bundle(name, data)
    article = dataclasses.replace(bundle.article, normalizer_version="1.0.1-test")
    return dataclasses.replace(bundle, article=article)


# -- reprocess ------------------------------------------------------------------------------------


def test_reprocess_writes_new_versions_once_and_is_idempotent(store: Store) -> None:
    ingest(store, seeds())
    before = {r.doc_id: r for r in rows(store, "SELECT * FROM articles")}
    v1 = next(iter(before.values())).normalizer_version

    dry = corpus.reprocess(store.engine, corpus.in_process(normalizer_v2), dry_run=True)
    assert (dry.scanned, dry.changed, dry.unchanged) == (5, 5, 0)
    assert dry.examples
    assert "人材" in dry.examples[0]
    assert "\n-" in dry.examples[0]
    assert scalar(store, "SELECT count(*) FROM article_versions") == 0

    report = corpus.reprocess(store.engine, corpus.in_process(normalizer_v2), batch_size=2)
    assert (report.scanned, report.changed, report.unchanged) == (5, 5, 0)
    assert report.normalizers == {(v1, "2.0.0-test"): 5}
    assert "body" in report.fields
    after = {r.doc_id: r for r in rows(store, "SELECT * FROM articles")}
    for doc_id, row in after.items():
        assert row.version == 2
        assert row.normalizer_version == "2.0.0-test"
        assert "人才" not in row.body
        # The stored encoding is the original one, not the UTF-8 the text was fed back as.
        assert row.encoding == before[doc_id].encoding
        assert row.raw_sha256 == before[doc_id].raw_sha256
        assert row.seq == before[doc_id].seq
    history = rows(store, "SELECT version, normalizer_version FROM article_versions")
    assert sorted(history) == [(1, v1)] * 5
    ledger = rows(
        store,
        "SELECT doc_id, version, normalizer_version, message FROM ingest_ledger "
        "WHERE outcome = 'reprocessed'",
    )
    assert len(ledger) == 5
    assert all(r.version == 2 and f"{v1} -> 2.0.0-test" in r.message for r in ledger)
    assert scalar(store, "SELECT count(*) FROM provenance WHERE version = 2") == 5

    again = corpus.reprocess(store.engine, corpus.in_process(normalizer_v2))
    assert (again.changed, again.unchanged) == (0, 5)
    assert scalar(store, "SELECT sum(version) FROM articles") == 10


def test_a_new_normalizer_version_alone_writes_nothing(store: Store) -> None:
    ingest(store, seeds()[:2])
    report = corpus.reprocess(store.engine, corpus.in_process(only_version_bumped))
    assert (report.changed, report.unchanged) == (0, 2)
    assert scalar(store, "SELECT count(*) FROM article_versions") == 0


def test_reprocess_keeps_the_recorded_encoding(store: Store) -> None:
    name, data = seeds()[1]
    text = data.decode("utf-8")
    ingest(store, [(name, text.encode("gb18030"))])
    assert scalar(store, "SELECT encoding FROM raw_bundles") == "gb18030"
    report = corpus.reprocess(store.engine, corpus.in_process(normalizer_v2))
    assert report.changed == 1
    assert scalar(store, "SELECT encoding FROM articles") == "gb18030"


def test_reprocess_since_and_rejections(store: Store) -> None:
    ingest(store, seeds())
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE articles SET updated_at = now() - interval '10 days'"))
        conn.execute(
            sa.text("UPDATE articles SET updated_at = now() WHERE doc_id IN (:a, :b)"),
            {"a": "06a9b80f6b53ca95", "b": "cbf7903446c9e50e"},
        )

    def picky(name: str, data: bytes) -> ParsedBundle:
        if "06a9b80f6b53ca95" in name:
            raise BundleRejected(ReasonCode.NO_ARTICLE, "no body under the new rules")
        return normalizer_v2(name, data)

    since = datetime.now(UTC) - timedelta(days=1)
    report = corpus.reprocess(store.engine, corpus.in_process(picky), since=since)
    assert (report.scanned, report.changed, report.rejected) == (2, 1, 1)
    assert report.rejections == {"no_article": 1}
    assert scalar(store, "SELECT sum(version) FROM articles") == 6


def test_a_concurrent_ingest_is_never_overwritten(store: Store) -> None:
    """An ingest that commits between reprocess's read and its lock wins; reprocess skips it."""
    files = seeds()
    ingest(store, files)
    name, data = files[2]
    newer = data.replace("圓滿落幕".encode(), "勝利閉幕".encode())
    newer_name = name.replace("002_", "102_")
    ingested = threading.Event()

    def racing_v2(name: str, data: bytes) -> ParsedBundle:
        if not ingested.is_set():
            ingested.set()
            # The daemon commits a new version of doc 2 while reprocess is parsing.
            [rec] = ingest(store, [(newer_name, newer)])
            assert rec.outcome == "updated"
        return normalizer_v2(name, data)

    report = corpus.reprocess(store.engine, corpus.in_process(racing_v2))
    assert report.skipped_concurrent == 1
    assert report.changed == 4
    row = rows(store, "SELECT * FROM articles WHERE doc_id = '98892994477bb2d1'")[0]
    assert row.raw_sha256 == parse_bundle(newer_name, newer).raw_sha256
    assert "勝利閉幕" in row.title + row.body
    assert row.version == 2  # the ingest's version, not a reprocessed stale one
    # The next run picks the new version up.
    again = corpus.reprocess(store.engine, corpus.in_process(normalizer_v2))
    assert again.changed == 1
    assert scalar(store, "SELECT version FROM articles WHERE doc_id = '98892994477bb2d1'") == 3


def test_a_deadlock_with_an_ingest_is_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    ingest(store, seeds()[:2])
    real_write = corpus._write
    calls = []

    def deadlock_once(conn: Any, changes: Any, run_id: str) -> Any:
        calls.append(run_id)
        if len(calls) == 1:
            real_write(conn, changes, run_id)  # written, then rolled back by the deadlock
            raise sa.exc.OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected())
        return real_write(conn, changes, run_id)

    monkeypatch.setattr(corpus, "_write", deadlock_once)
    report = corpus.reprocess(store.engine, corpus.in_process(normalizer_v2))
    assert len(calls) == 2
    assert report.changed == 2
    assert scalar(store, "SELECT count(*) FROM article_versions") == 2
    assert scalar(store, "SELECT count(*) FROM ingest_ledger WHERE outcome = 'reprocessed'") == 2


def test_reprocess_assigns_owners_and_near_duplicates(store: Store) -> None:
    """Two pages that only the new normalizer sees as one story become duplicates."""
    name, data = seeds()[3]
    page = data.decode("utf-8")
    other = page.replace("助推", "助力", 1)  # a difference in the title the v2 rule folds
    ingest(store, [(name, data), ("103_aaaaaaaaaaaaaaaa.txt", other.encode())])
    assert scalar(store, "SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL") == 0

    def folding(name: str, data: bytes) -> ParsedBundle:
        return normalizer_v2(name, data.decode("utf-8").replace("助力", "助推").encode())

    corpus.reprocess(store.engine, corpus.in_process(folding))
    first, second = rows(
        store, "SELECT id, duplicate_of, near_duplicate_of FROM articles ORDER BY id"
    )
    assert first.duplicate_of is None
    assert second.duplicate_of == first.id
    assert second.near_duplicate_of == first.id


def test_a_rewrite_that_keeps_the_fingerprint_keeps_the_cluster(store: Store) -> None:
    name, data = seeds()[0]
    reprint = data.decode("utf-8").replace("可不要以為這就是一個普通的會議。", "")
    ingest(store, [(name, data), ("100_aaaaaaaaaaaaaaaa.txt", reprint.encode())])
    first, second = rows(store, "SELECT id, near_duplicate_of FROM articles ORDER BY id")
    assert second.near_duplicate_of == first.id

    def new_authors(name: str, data: bytes) -> ParsedBundle:
        bundle = parse_bundle(name, data)
        article = dataclasses.replace(bundle.article, authors=("周宇", "编辑部"))
        return dataclasses.replace(bundle, article=article)

    assert corpus.reprocess(store.engine, corpus.in_process(new_authors)).changed == 2
    after = rows(store, "SELECT id, version, near_duplicate_of, authors FROM articles ORDER BY id")
    assert [(r.version, r.near_duplicate_of) for r in after] == [(2, None), (2, first.id)]
    assert after[0].authors == ["周宇", "编辑部"]


def test_reprocess_notifies_listeners(store: Store, db_url: str) -> None:
    import psycopg

    ingest(store, seeds()[:2])
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN newsdrop_articles")
        corpus.reprocess(store.engine, corpus.in_process(normalizer_v2))
        got = [json.loads(n.payload)["ids"] for n in listener.notifies(timeout=5, stop_after=1)]
    assert sorted(got[0]) == sorted(r.id for r in rows(store, "SELECT id FROM articles"))


# -- near duplicates ---------------------------------------------------------------------------


@functools.cache
def _bench() -> ModuleType:
    """bench/near_dupes.py (not a package): the test set and its measurement."""
    spec = importlib.util.spec_from_file_location("near_dupes", ROOT / "bench" / "near_dupes.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def test_near_duplicate_clusters_on_the_rewritten_seeds(store: Store) -> None:
    """Every variant lands in its seed's cluster; no unrelated article joins one."""
    bench = _bench()
    docs = bench.build_test_set()
    results = ingest(store, [(d.name, d.text.encode("utf-8")) for d in docs])
    family_of = {r.article_id: d.family for r, d in zip(results, docs, strict=True)}
    clusters = list(corpus.near_duplicate_clusters(store.engine))
    cluster_of = {c.root.id: c.root.id for c in clusters}
    cluster_of.update({m.id: c.root.id for c in clusters for m in c.members})
    tp = fp = fn = 0
    ids = sorted(family_of)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            same = family_of[a] == family_of[b]
            together = a in cluster_of and cluster_of.get(a) == cluster_of.get(b)
            tp += same and together
            fp += together and not same
            fn += same and not together
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    # Measured with bench/near_dupes.py at NEAR_DUPLICATE_DISTANCE = 7: precision 1.000,
    # recall 0.905 pairwise; clusters chain members through their root, so recall is higher.
    assert precision >= 0.99, (precision, recall)
    assert recall >= 0.85, (precision, recall)
    unrelated = {d.name for d in docs if d.variant == "unrelated"}
    for result, doc in zip(results, docs, strict=True):
        if doc.name in unrelated:
            assert result.article_id not in cluster_of, doc.family
    # Distances are to the root; a member may have joined through an earlier member.
    assert any(m.distance > 0 for c in clusters for m in c.members)


def test_near_duplicate_threshold_on_the_bench_set() -> None:
    """The product's fingerprints separate reprints from unrelated pages at the chosen k."""
    bench = _bench()
    docs = bench.build_test_set()
    prints, rejected = bench.product_fingerprints(docs)
    assert not rejected
    row = bench.scores(bench.pairs(docs, prints))[NEAR_DUPLICATE_DISTANCE]
    assert row["precision"] >= 0.99
    assert row["recall"] >= 0.85


def test_a_neighbour_sharing_no_band_is_found(store: Store) -> None:
    """Distance 7 spread over all four bands: exact band matches alone would miss it."""
    name, data = seeds()[0]
    bundle = parse_bundle(name, data)
    flipped = bundle.article.simhash ^ (0b11 | 0b11 << 16 | 0b11 << 32 | 0b1 << 48)
    twin = dataclasses.replace(
        bundle,
        article=dataclasses.replace(
            bundle.article,
            doc_id="bbbbbbbbbbbbbbbb",
            content_hash="x",
            simhash=to_signed64(flipped),
        ),
    )
    store.record([Accepted(Arrival("a", name), bundle)])
    store.record([Accepted(Arrival("b", "001_bbbbbbbbbbbbbbbb.txt"), twin)])
    [cluster] = corpus.near_duplicate_clusters(store.engine)
    assert [m.distance for m in cluster.members] == [7]


# -- export ---------------------------------------------------------------------------------


def test_jsonl_export_and_strictly_newer_incremental_pull(store: Store) -> None:
    ingest(store, seeds())
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE articles SET updated_at = :base + make_interval(hours => id::int)"),
            {"base": base},
        )
    out = io.StringIO()
    assert corpus.export_jsonl(corpus.iter_articles(store.engine), out) == 5
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines)
    assert set(lines[0]) == set(corpus.EXPORT_COLUMNS)
    assert isinstance(lines[0]["authors"], list)
    datetime.fromisoformat(lines[0]["updated_at"])

    cut = base + timedelta(hours=3)  # article 3 sits exactly on the cut: not strictly newer
    newer = list(corpus.iter_articles(store.engine, updated_after=cut))
    assert [r["id"] for r in newer] == [4, 5]


def test_parquet_export_is_typed_and_in_row_groups(store: Store, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    ingest(store, seeds())
    path = tmp_path / "articles.parquet"
    count = corpus.export_parquet(corpus.iter_articles(store.engine), path, row_group_rows=2)
    assert count == 5
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 3
    table = parquet.read()
    assert table.schema.equals(corpus.parquet_schema(), check_metadata=False)
    assert str(table.schema.field("published_at").type) == "timestamp[us, tz=UTC]"
    assert table.column("authors").to_pylist()[0] == list(
        rows(store, "SELECT authors FROM articles ORDER BY updated_at, id")[0].authors
    )
    assert not list(tmp_path.glob(".*.tmp"))


def test_parquet_without_pyarrow_is_a_clear_error(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ConfigError, match=r"newsdrop\[parquet\]"):
        corpus.export_parquet(iter([]), tmp_path / "x.parquet")


# -- the commands ---------------------------------------------------------------------------


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """main() points structlog at this test's captured stderr: undo it for the next tests."""
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("cli_logging")
def test_the_commands_print_what_they_did(
    store: Store,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from service.cli import main

    bench = _bench()
    docs = [d for d in bench.build_test_set() if d.family.startswith("003")]
    ingest(store, [(d.name, d.text.encode("utf-8")) for d in docs])
    monkeypatch.setenv("NEWSDROP_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSDROP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSDROP_LOG_FORMAT", "json")
    monkeypatch.setenv("NEWSDROP_WORKERS", "1")

    assert main(["dupes", "--json"]) == 0
    [cluster] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(cluster["members"]) >= 5
    assert {"id", "doc_id", "title", "distance", "duplicate_of"} <= set(cluster["root"])

    assert main(["reprocess", "--dry-run", "--batch-size", "3"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[: out.index("\n}\n") + 2])["scanned"] == len(docs)
    assert "0 of 7 articles would change" in out

    assert main(["export"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == len(docs)
    assert "exported 7 articles" in captured.err
    later = datetime.now(UTC).isoformat()
    assert main(["export", "--updated-after", later]) == 0
    assert capsys.readouterr().out == ""
    with pytest.raises(SystemExit):
        main(["export", "--updated-after", "yesterday"])
    assert "not an ISO 8601" in capsys.readouterr().err
    assert main(["export", "--format", "parquet"]) == 1
    assert "needs --out" in capsys.readouterr().err


def test_the_covering_band_indexes_find_the_same_roots(pg_admin_url: str) -> None:
    """bench/near_probe.py on a small corpus: both index forms agree, and its database goes."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "near_probe.py"),
            "--database-url",
            pg_admin_url,
            "--n",
            "3000",
            "--batches",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "same roots found:      yes" in done.stdout
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'newsdrop_probe_%'"
        )
        assert left.fetchone() == (0,)
