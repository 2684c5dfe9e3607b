"""Corpus operations beside a running daemon: LISTEN, reprocess during ingest, big exports."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from service import corpus
from service.article import ParsedBundle
from service.identity import content_hash, simhash
from service.parse import parse_bundle
from service.store import create_db_engine
from tests.support import SEEDS, Daemon, query, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def daemon(tmp_path: Path, db_url: str) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "data", db_url).start()
    yield d
    d.kill()


def drop(inbox: Path, name: str, data: bytes) -> None:
    """Write elsewhere, rename in: how producers should deliver."""
    temp = inbox.parent / f".{name}.tmp"
    temp.write_bytes(data)
    os.rename(temp, inbox / name)


def test_a_listen_client_receives_the_ids_of_a_dropped_bundle(daemon: Daemon, db_url: str) -> None:
    listener = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "listen.py"), db_url, "--count", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stderr is not None
        assert "listening on newsdrop_articles" in listener.stderr.readline()
        seed = sorted(SEEDS.glob("*.txt"))[0]
        drop(daemon.data_dir / "inbox", seed.name, seed.read_bytes())
        out, _ = listener.communicate(timeout=30)
    finally:
        listener.kill()
        listener.wait()
    [row] = [json.loads(line) for line in out.splitlines()]
    doc_id = seed.stem.split("_")[1]
    assert row["doc_id"] == doc_id
    assert row["id"] == query(db_url, "SELECT id FROM articles WHERE doc_id = :d", d=doc_id)
    assert row["version"] == 1


def normalizer_v2(name: str, data: bytes) -> ParsedBundle:
    """The new rule reprocess applies: 人才 is written 人材."""
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


def test_reprocess_while_the_daemon_ingests_new_versions(daemon: Daemon, db_url: str) -> None:
    """Every article ends derived from its newest bundle, whoever wrote it last."""
    inbox = daemon.data_dir / "inbox"
    seeds = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    docs = [f"{n:04x}" + "c0ffee" * 2 for n in range(15)]
    rounds = 3
    latest: dict[str, tuple[str, bytes]] = {}

    def deliver(round_no: int) -> None:
        for n, doc_id in enumerate(docs):
            text = seeds[n % len(seeds)].replace("人才", f"人才{round_no}", 1)
            name = f"{round_no * 100 + n:03d}_{doc_id}.txt"
            latest[doc_id] = (name, text.encode("utf-8"))
            drop(inbox, name, latest[doc_id][1])

    deliver(0)
    wait_until(lambda: query(db_url, "SELECT count(*) FROM articles") == len(docs), timeout=60)
    done = threading.Event()
    failures: list[BaseException] = []

    def producer() -> None:
        try:
            for round_no in range(1, rounds):
                deliver(round_no)
                wait_until(lambda: not any(inbox.iterdir()), timeout=60)
                time.sleep(0.3)
        except BaseException as exc:  # surfaced below
            failures.append(exc)
        finally:
            done.set()

    engine = create_db_engine(db_url)
    thread = threading.Thread(target=producer)
    thread.start()
    try:
        passes = 0
        while not done.is_set() or passes < 2:
            corpus.reprocess(engine, corpus.in_process(normalizer_v2), batch_size=4)
            passes += 1
        thread.join()
        assert not failures, failures
        wait_until(lambda: len(daemon.event("ingest.file_done")) == rounds * len(docs), timeout=60)

        for doc_id, (name, data) in latest.items():
            expected_sha = parse_bundle(name, data).raw_sha256
            row = query(db_url, "SELECT raw_sha256 FROM articles WHERE doc_id = :d", d=doc_id)
            assert row == expected_sha, f"{doc_id} lost its newest bundle to a stale write"
            body = query(db_url, "SELECT body FROM articles WHERE doc_id = :d", d=doc_id)
            assert body in (
                parse_bundle(name, data).article.body,
                normalizer_v2(name, data).article.body,
            )
        consistent = query(
            db_url,
            "SELECT bool_and(a.version = 1 + (SELECT count(*) FROM article_versions v "
            "WHERE v.article_id = a.id)) FROM articles a",
        )
        assert consistent
        final = corpus.reprocess(engine, corpus.in_process(normalizer_v2))
        assert final.skipped_concurrent == 0
        again = corpus.reprocess(engine, corpus.in_process(normalizer_v2))
        assert again.changed == 0
    finally:
        done.set()
        thread.join()
        engine.dispose()
    assert daemon.stop() == 0


# -- export memory -----------------------------------------------------------------------------

EXPORT_ROWS = 50_000
PEAK_RSS_LIMIT_MB = 200


def _fill(db_url: str, n: int) -> None:
    """n articles of ~3 KB body each, made by the server (seconds, not minutes)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO raw_bundles (sha256, name, size, encoding, text) "
            "VALUES ('s', '000_0000000000000000.txt', 1, 'utf-8', 't')"
        )
        conn.execute(
            "INSERT INTO articles (doc_id, raw_sha256, version, seq, title, body, authors, "
            "script, encoding, flags, content_hash, simhash, normalizer_version, fields_hash, "
            "sim_band_0, sim_band_1, sim_band_2, sim_band_3, published_at) "
            "SELECT lpad(to_hex(g), 16, '0'), 's', 1, g, '标题' || g, repeat(md5(g::text), 100), "
            "ARRAY['记者' || g], 'zh-Hans', 'utf-8', '{}', md5(g::text), g, '1.0.0', "
            "md5(g::text), 0, 0, 0, 0, now() "
            "FROM generate_series(1, %s) AS g",
            (n,),
        )


def _export_peak_rss(db_url: str, tmp_path: Path, *args: str) -> tuple[float, float]:
    """Run `newsdrop export` in a child of a fresh interpreter; (peak RSS in MB, seconds)."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(peak / 1024, time.monotonic() - t)\n"
    )
    env = {**os.environ, "NEWSDROP_DATABASE_URL": db_url, "NEWSDROP_DATA_DIR": str(tmp_path)}
    env["NEWSDROP_LOG_FORMAT"] = "json"
    result = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "service", "export", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    peak, seconds = result.stdout.split()
    return float(peak), float(seconds)


@pytest.mark.slow
def test_export_of_50000_articles_in_constant_memory(db_url: str, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    _fill(db_url, EXPORT_ROWS)
    jsonl = tmp_path / "articles.jsonl"
    peak, seconds = _export_peak_rss(db_url, tmp_path, "--out", str(jsonl))
    assert peak < PEAK_RSS_LIMIT_MB, f"JSONL export peaked at {peak:.0f} MB"
    with jsonl.open(encoding="utf-8") as lines:
        assert sum(1 for _ in lines) == EXPORT_ROWS
    # ~160 MB of bodies went through a process that never held more than a chunk of them.
    assert jsonl.stat().st_size > 150 * 1024 * 1024
    print(f"jsonl: {EXPORT_ROWS / seconds:.0f} articles/s, peak RSS {peak:.0f} MB")

    parquet = tmp_path / "articles.parquet"
    peak, seconds = _export_peak_rss(db_url, tmp_path, "--format", "parquet", "--out", str(parquet))
    assert peak < PEAK_RSS_LIMIT_MB, f"Parquet export peaked at {peak:.0f} MB"
    metadata = pq.ParquetFile(parquet).metadata
    assert metadata.num_rows == EXPORT_ROWS
    assert metadata.num_row_groups > 1
    print(f"parquet: {EXPORT_ROWS / seconds:.0f} articles/s, peak RSS {peak:.0f} MB")
