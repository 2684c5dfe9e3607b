"""Ledger outcome `reprocessed`: an article version re-derived from its stored raw bundle.

`newsdrop reprocess` writes one ledger row per article it rewrites, so the provenance view
names the raw bundle (and the normalizer) behind every version, not only those of file
arrivals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OLD = "outcome IN ('inserted','updated','unchanged','duplicate','quarantined')"
_NEW = "outcome IN ('inserted','updated','unchanged','duplicate','quarantined','reprocessed')"


def _replace_outcome_check(condition: str) -> None:
    # 0001 named the constraint through the naming convention twice
    # (ck_ingest_ledger_ck_ingest_ledger_outcome_known): find it by table and column and keep
    # whatever name it has, so both spellings upgrade.
    name = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'ingest_ledger'::regclass "
                "AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%outcome%'"
            )
        )
        .scalar_one()
    )
    quoted = '"' + name.replace('"', '""') + '"'
    op.execute(
        f"ALTER TABLE ingest_ledger DROP CONSTRAINT {quoted}, "
        f"ADD CONSTRAINT {quoted} CHECK ({condition})"
    )


def upgrade() -> None:
    """Allow the `reprocessed` outcome."""
    _replace_outcome_check(_NEW)


def downgrade() -> None:
    """Forget reprocess rows, then restore the original outcomes."""
    op.execute("DELETE FROM ingest_ledger WHERE outcome = 'reprocessed'")
    _replace_outcome_check(_OLD)
