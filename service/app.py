"""The composition root: builds engine, store, inbox, watcher, pipeline and HTTP from settings.

Nothing here runs at import time; every command calls one function below.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from service.daemon import Daemon
from service.embedded import EmbeddedPostgres
from service.errors import AlreadyRunning, ConfigError, DatabaseUnavailable
from service.inbox import Claimed, Folders, Inbox
from service.metrics import Metrics
from service.pipeline import FileResult, Parser, Pipeline
from service.settings import Settings
from service.store import Store, create_db_engine
from service.watcher import Watcher

if TYPE_CHECKING:
    from service.corpus import Cluster, ReprocessReport
    from service.requeue import Requeued

log = structlog.get_logger("newsdrop")

# glibc's mallopt() parameter number for the arena limit (malloc.h).
_M_ARENA_MAX = -8
# glibc gives every thread that allocates its own malloc arena (up to eight per core). The
# daemon's threads pass objects between them (the pool's result thread unpickles the parses,
# the writer thread frees them), and memory freed into one arena is not reused by another.
# Measured in a 50,000-file backlog (bench/run.py): between 4 s and 20 s the main process grew
# 14 MB with glibc's default, 4 MB with two arenas; peak RSS of the tree 236 -> 229 MB.
_MALLOC_ARENAS = 2


def folders_of(settings: Settings) -> Folders:
    """The lifecycle folders named by the settings."""
    return Folders(
        inbox=settings.folder("inbox"),
        processing=settings.folder("processing"),
        processed=settings.folder("processed"),
        quarantine=settings.folder("quarantine"),
    )


@contextlib.contextmanager
def open_store(settings: Settings, *, migrate: bool = False) -> Iterator[Store]:
    """A Store on the configured database, or on an embedded server started for the call."""
    embedded: EmbeddedPostgres | None = None
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
    else:
        embedded = EmbeddedPostgres(settings.embedded_data)
        url = embedded.start()
        log.info("database.embedded_started", data=str(settings.embedded_data))
    engine = create_db_engine(url)
    try:
        store = Store(engine)
        if migrate:
            revision = store.migrate()
            log.info("database.migrated", revision=revision)
        yield store
    finally:
        engine.dispose()
        if embedded is not None:
            embedded.stop()


@contextlib.contextmanager
def data_dir_lock(settings: Settings) -> Iterator[None]:
    """One daemon per data directory: a second one refuses to start."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / ".newsdrop.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"another newsdrop daemon is running on {settings.data_dir.absolute()}; "
                "stop it first or give this one its own NEWSDROP_DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def share_malloc_arenas() -> None:
    """Cap glibc's malloc arenas for the threads started after this (unless the user set one)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return  # glibc read it at start-up
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to cap
    mallopt(_M_ARENA_MAX, _MALLOC_ARENAS)


def run_daemon(settings: Settings) -> int:
    """`newsdrop run`: watch and ingest until SIGTERM; migrate once the database answers."""
    from service.http import HttpServer

    share_malloc_arenas()  # before any thread starts: threads keep the arena they first used
    folders = folders_of(settings)
    folders.ensure()
    with data_dir_lock(settings), open_store(settings) as store:
        metrics = Metrics()
        inbox = Inbox(folders, settings.max_file_bytes, failpoint=settings.failpoint)
        parser = Parser(settings.workers)
        pipeline = Pipeline(inbox, store, parser, metrics, failpoint=settings.failpoint)
        daemon: Daemon | None = None

        def hint(h: Any) -> None:
            if daemon is not None:
                daemon.on_hint(h)

        def overflow() -> None:
            if daemon is not None:
                daemon.on_overflow()

        def migrate() -> None:
            log.info("database.migrated", revision=store.migrate())

        watcher = Watcher(
            folders.inbox, mode=settings.watch_mode, on_hint=hint, on_overflow=overflow
        )
        daemon = Daemon(
            inbox=inbox,
            store=store,
            pipeline=pipeline,
            watcher=watcher,
            metrics=metrics,
            settle_seconds=settings.settle_seconds,
            reconcile_seconds=settings.reconcile_seconds,
            poll_seconds=settings.poll_seconds,
            batch_size=settings.batch_size,
            retry_max_seconds=settings.retry_max_seconds,
            prepare_database=migrate,
        )
        daemon.install_signal_handlers()
        parser.start()
        http = None
        if settings.http_enabled:
            http = HttpServer(
                settings.http_host,
                settings.http_port,
                daemon,
                metrics,
                liveness_max_age=30.0,
            )
            port = http.start()
            log.info("http.listening", host=settings.http_host, port=port)
        try:
            daemon.run()
        finally:
            if http is not None:
                http.stop()
            parser.stop()
    return 0


def iter_bundle_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Every regular file named by `paths`, directories walked in name order."""
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        else:
            yield path


def ingest_paths(
    settings: Settings,
    paths: Sequence[Path],
    *,
    move: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """`newsdrop ingest`: backfill files in place (or through the inbox with `move`)."""
    folders = folders_of(settings)
    if move:
        folders.ensure()
    outcomes: Counter[str] = Counter()
    with open_store(settings, migrate=True) as store:
        inbox = Inbox(folders, settings.max_file_bytes)
        parser = Parser(settings.workers)
        parser.start()
        pipeline = Pipeline(inbox, store, parser, Metrics(), move_files=move)
        run_id = uuid.uuid4().hex
        try:
            batch: list[Claimed] = []
            for path in iter_bundle_files(paths):
                claim = _claim_for_ingest(path, inbox, run_id, move)
                if claim is not None:
                    batch.append(claim)
                if len(batch) >= settings.batch_size:
                    _ingest_batch(pipeline, batch, outcomes, progress)
                    batch = []
            _ingest_batch(pipeline, batch, outcomes, progress)
        finally:
            parser.stop()
    return outcomes


def _claim_for_ingest(path: Path, inbox: Inbox, run_id: str, move: bool) -> Claimed | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if move:
        target = inbox.folders.inbox / path.name
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None  # another backfill or the daemon took it after our lstat
        except OSError:
            import shutil

            temp = inbox.folders.inbox / f".{path.name}.ingest"
            shutil.copyfile(path, temp)
            os.replace(temp, target)
            os.unlink(path)
        return inbox.claim(path.name)
    # In place: the file is not ours to move, so every run is its own arrival.
    return Claimed(
        path.name, os.fspath(path), st.st_size, f"ingest:{run_id}:{path}", st.st_mode, st.st_nlink
    )


def _ingest_batch(
    pipeline: Pipeline,
    batch: list[Claimed],
    outcomes: Counter[str],
    progress: Callable[[int], None] | None,
) -> None:
    if not batch:
        return
    results: list[FileResult] = pipeline.process(batch)
    for result in results:
        outcomes[result.outcome] += 1
        if result.reason:
            outcomes[f"reason:{result.reason}"] += 1
    if progress is not None:
        progress(len(batch))


def status_report(settings: Settings) -> dict[str, Any]:
    """`newsdrop status --json`: database counts plus the inbox backlog."""
    folders = folders_of(settings)
    inbox = Inbox(folders, settings.max_file_bytes)
    backlog = inbox.backlog() if folders.inbox.is_dir() else 0
    try:
        with open_store(settings) as store:
            report = store.counts()
            report["database"] = "up"
    except DatabaseUnavailable:
        report = {"articles": None, "versions": None, "files": None, "database": "down"}
    report["inbox_backlog"] = backlog
    return report


def upgrade_database(settings: Settings) -> str:
    """`newsdrop db upgrade`: apply every migration; returns the revision in force."""
    with open_store(settings) as store:
        return store.migrate()


def requeue(settings: Settings, reason: str | None, names: Sequence[str]) -> list[Requeued]:
    """`newsdrop requeue`: move quarantined bundles back into the inbox."""
    from service.requeue import requeue as requeue_bundles

    folders = folders_of(settings)
    folders.ensure()
    return requeue_bundles(folders.quarantine, folders.inbox, reason=reason, names=names)


def reprocess_corpus(
    settings: Settings,
    *,
    since: datetime | None,
    dry_run: bool,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> ReprocessReport:
    """`newsdrop reprocess`: re-derive every stored article with the current normalizer."""
    from service.corpus import reprocess

    with open_store(settings, migrate=True) as store:
        parser = Parser(settings.workers)
        parser.start()
        try:
            return reprocess(
                store.engine,
                parser.parse,
                since=since,
                dry_run=dry_run,
                batch_size=batch_size,
                progress=progress,
                total=total,
            )
        finally:
            parser.stop()


def near_duplicate_clusters(settings: Settings) -> Iterator[Cluster]:
    """`newsdrop dupes`: every near-duplicate cluster, streamed."""
    from service.corpus import near_duplicate_clusters as clusters

    with open_store(settings) as store:
        yield from clusters(store.engine)


def export_corpus(
    settings: Settings, fmt: str, out: Path | None, updated_after: datetime | None
) -> int:
    """`newsdrop export`: stream current articles as JSONL (stdout or a file) or Parquet."""
    import sys

    from service.corpus import export_jsonl, export_parquet, iter_articles

    if fmt == "parquet" and out is None:
        raise ConfigError("--format parquet needs --out PATH (Parquet is not streamed to stdout)")
    with open_store(settings) as store:
        rows = iter_articles(store.engine, updated_after=updated_after)
        if fmt == "parquet":
            assert out is not None
            return export_parquet(rows, out)
        if out is None:
            return export_jsonl(rows, sys.stdout)
        temp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            with temp.open("w", encoding="utf-8") as stream:
                count = export_jsonl(rows, stream)
            os.replace(temp, out)
        finally:
            temp.unlink(missing_ok=True)
        return count
