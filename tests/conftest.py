"""Shared fixtures: a real PostgreSQL (NEWSDROP_TEST_DATABASE_URL or an embedded server),
a migrated template database per session and a fresh database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = FIXTURES / "seeds"


def _admin_conn(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A superuser URL on a real server: the one named by the env, else an embedded one."""
    url = os.environ.get("NEWSDROP_TEST_DATABASE_URL")
    if url:
        yield url.replace("postgresql+psycopg://", "postgresql://")
        return
    from service.embedded import EmbeddedPostgres

    pgdata = Path(tempfile.mkdtemp(prefix="newsdrop-test-pg-"))
    server = EmbeddedPostgres(pgdata / "data")
    try:
        url = server.start()
        # Its only socket is inside the data directory (0700): fault tests run the daemon as
        # `nobody` or in a user namespace, which must reach it. PostgreSQL checks the data
        # directory's mode only at start, so traversal (no listing) is granted after it.
        for folder in (pgdata, pgdata / "data"):
            folder.chmod(0o711)
        yield url
    finally:
        server.stop()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """A database migrated to head once per session, cloned for each test."""
    from service.store import Store, create_db_engine

    name = f"newsdrop_tpl_{uuid.uuid4().hex[:8]}"
    with _admin_conn(pg_admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_db_engine(with_database(pg_admin_url, name))
    Store(engine).migrate()
    engine.dispose()
    yield name
    with _admin_conn(pg_admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    name = f"newsdrop_t_{uuid.uuid4().hex[:10]}"
    with _admin_conn(pg_admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield with_database(pg_admin_url, name)
    with _admin_conn(pg_admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name = f"newsdrop_e_{uuid.uuid4().hex[:10]}"
    with _admin_conn(pg_admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(pg_admin_url, name)
    with _admin_conn(pg_admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every test stops the threads it started."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before
        and t.is_alive()
        and not t.name.startswith(("QueueFeederThread", "pydevd"))
    ]
    for thread in leaked:
        thread.join(timeout=2)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test leaked threads: {still}"
