"""The migrations are the schema's owner: head must equal what the models describe."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.models import Base
from service.store import Store, create_db_engine

pytestmark = pytest.mark.integration


def test_upgrade_from_empty_matches_models(empty_db_url: str) -> None:
    engine = create_db_engine(empty_db_url)
    try:
        assert Store(engine).migrate() == "0004"
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(empty_db_url: str) -> None:
    engine = create_db_engine(empty_db_url)
    try:
        store = Store(engine)
        store.migrate()
        assert store.migrate() == "0004"
        with engine.connect() as conn:
            views = conn.execute(
                sa.text("SELECT viewname FROM pg_views WHERE viewname='provenance'")
            )
            assert views.scalar() == "provenance"
    finally:
        engine.dispose()


def test_reprocessed_outcome_migrates_down_and_up(empty_db_url: str) -> None:
    from alembic import command

    from service.store import alembic_config

    engine = create_db_engine(empty_db_url)
    try:
        Store(engine).migrate()
        config = alembic_config(engine)
        command.downgrade(config, "0001")
        with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
            conn.execute(
                sa.text(
                    "INSERT INTO ingest_ledger (arrival_key, name, outcome) "
                    "VALUES ('k', 'n', 'reprocessed')"
                )
            )
        assert Store(engine).migrate() == "0004"
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO ingest_ledger (arrival_key, name, outcome) "
                    "VALUES ('k', 'n', 'reprocessed')"
                )
            )
    finally:
        engine.dispose()
