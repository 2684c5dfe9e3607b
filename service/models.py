"""The database schema as typed SQLAlchemy models; Alembic migrations must produce exactly this."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# `reprocessed` (migration 0002): a version re-derived from a stored raw bundle, no file arrival.
OUTCOMES = ("inserted", "updated", "unchanged", "duplicate", "quarantined", "reprocessed")
SIMHASH_BANDS = 4  # 64 bits in 4 bands of 16: two fingerprints within distance 3 share a band
# The earliest article of an article's near-duplicate cluster (itself when it starts one).
_CLUSTER_ROOT = text("coalesce(near_duplicate_of, id)")


class Base(DeclarativeBase):
    """Declarative base bound to one MetaData with stable constraint names."""

    metadata = MetaData(naming_convention=NAMING)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class RawBundle(Base):
    """The decoded text of every distinct bundle, so any article can be re-derived later."""

    __tablename__ = "raw_bundles"

    sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    encoding: Mapped[str] = mapped_column(Text, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _now()


class _ArticleFields:
    """Columns shared by the current article and its superseded versions."""

    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    subtitle: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    authors: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    source: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    section: Mapped[str | None] = mapped_column(Text)
    dateline_place: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    script: Mapped[str] = mapped_column(Text, nullable=False)
    encoding: Mapped[str] = mapped_column(Text, nullable=False)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    content_hash: Mapped[str] = mapped_column(Text, nullable=False)
    simhash: Mapped[int] = mapped_column(BigInteger, nullable=False)
    normalizer_version: Mapped[str] = mapped_column(Text, nullable=False)
    fields_hash: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class Article(_ArticleFields, Base):
    """The current version of one document (one row per doc_id)."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("doc_id"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(None, "content_hash"),
        Index(None, "updated_at", "id"),
        # (band, cluster root): a near-duplicate probe stops at the earliest root in reach,
        # and reads the fingerprint and the root from the index alone (no heap page).
        *(
            Index(
                f"ix_articles_sim_band_{band}_probe",
                f"sim_band_{band}",
                _CLUSTER_ROOT,
                postgresql_include=["simhash", "near_duplicate_of", "id"],
            )
            for band in range(SIMHASH_BANDS)
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(Text, nullable=False)
    raw_sha256: Mapped[str] = mapped_column(ForeignKey("raw_bundles.sha256"), nullable=False)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    near_duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    sim_band_0: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    sim_band_1: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    sim_band_2: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    sim_band_3: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class ArticleVersion(_ArticleFields, Base):
    """A superseded version of an article, copied out before the article is updated."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), nullable=False
    )
    raw_sha256: Mapped[str] = mapped_column(ForeignKey("raw_bundles.sha256"), nullable=False)
    superseded_at: Mapped[datetime] = _now()


class ContentOwner(Base):
    """The first article of every content hash; later equal articles are its duplicates."""

    __tablename__ = "content_owners"

    content_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), nullable=False
    )


class LedgerEntry(Base):
    """One row per file arrival, written in the same transaction as its article."""

    __tablename__ = "ingest_ledger"
    __table_args__ = (
        UniqueConstraint("arrival_key"),
        CheckConstraint(
            "outcome IN ('inserted','updated','unchanged','duplicate','quarantined','reprocessed')",
            name="outcome_known",
        ),
        Index(None, "raw_sha256"),
        Index(None, "committed_at"),
        Index(None, "article_id"),
        Index(None, "outcome"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # Identifies one arrival of one file: a crash after COMMIT finds its row by this key.
    arrival_key: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    doc_id: Mapped[str | None] = mapped_column(Text)
    raw_sha256: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    version: Mapped[int | None] = mapped_column(Integer)
    normalizer_version: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp(), nullable=False
    )
