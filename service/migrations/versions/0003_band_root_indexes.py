"""SimHash band indexes ordered by cluster root.

The ingest path asks, per band probe, for the earliest cluster root within reach. With the
root as the second index column, each probe stops at its first row within distance instead
of fetching every article that shares the band value: in a large reprint cluster that was
thousands of heap rows per probe, and the cost grew with the cluster.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BANDS = range(4)


def upgrade() -> None:
    """Replace each band index with one on (band, cluster root)."""
    for band in _BANDS:
        op.drop_index(f"ix_articles_sim_band_{band}", table_name="articles")
        op.create_index(
            f"ix_articles_sim_band_{band}_root",
            "articles",
            [f"sim_band_{band}", sa.text("coalesce(near_duplicate_of, id)")],
        )


def downgrade() -> None:
    """Back to plain band indexes."""
    for band in _BANDS:
        op.drop_index(f"ix_articles_sim_band_{band}_root", table_name="articles")
        op.create_index(f"ix_articles_sim_band_{band}", "articles", [f"sim_band_{band}"])
