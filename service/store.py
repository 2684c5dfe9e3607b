"""The PostgreSQL adapter: every statement newsdrop runs is in this module.

Exactly-once effect lives here: a file arrival's ledger row is written in the same
transaction as its article, keyed by a unique `arrival_key`, so a replayed arrival is
recognised and never applied twice. Concurrent writers are serialised by the unique
constraints on `articles.doc_id`, `content_owners.content_hash` and the ledger key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from service.article import Article, ParsedBundle
from service.errors import ConfigError, DatabaseUnavailable, ReasonCode

NOTIFY_CHANNEL = "newsdrop_articles"
# 400 ids of up to 19 digits stay under PostgreSQL's 8,000-byte NOTIFY payload limit.
NOTIFY_IDS_PER_MESSAGE = 400
_CHANGED = frozenset({"inserted", "updated", "duplicate"})
# Hamming distance of 64-bit SimHashes within which two articles are near duplicates.
# Measured by bench/near_dupes.py through parse_bundle (normalizer 1.0.0) on reprints grown
# from the seeds (other script, other furniture, rewritten sentences, a dropped paragraph;
# 105 near-duplicate and 885 unrelated pairs), precision/recall: k=3 1.000/0.543,
# k=7 1.000/0.905, k=10 1.000/0.971 (best F1); the closest unrelated pair is at 19.
# k=7, not 10: beyond 7 the band probes need two-bit flips (137 values per band instead
# of 17), measured ~4x slower per 200-bundle batch on a million articles (1.8 s vs 0.5 s).
NEAR_DUPLICATE_DISTANCE = 7
# Four 16-bit bands alone only guarantee candidates within distance 3 (pigeonhole). Probing
# every band value within this radius of each band (multi-index hashing) guarantees every
# article within 4 * (radius + 1) - 1 bits: 7 with one-bit probes (17 values per band).
PROBE_RADIUS = NEAR_DUPLICATE_DISTANCE // 4

# Every Article field but doc_id (the conflict key), in declaration order, plus fields_hash:
# the columns articles and article_versions share with the core's value.
ARTICLE_COLUMNS = (
    *(field.name for field in dataclasses.fields(Article) if field.name != "doc_id"),
    "fields_hash",
)

_COLUMNS = ", ".join(ARTICLE_COLUMNS)
# Built once from the constant column list above; no value is ever formatted into SQL.
_INSERT_ARTICLE = sa.text(
    "INSERT INTO articles (doc_id, raw_sha256, version, duplicate_of, near_duplicate_of, "  # noqa: S608
    f"sim_band_0, sim_band_1, sim_band_2, sim_band_3, {_COLUMNS}) VALUES (:doc_id, "
    ":raw_sha256, 1, :duplicate_of, :near_duplicate_of, :b0, :b1, :b2, :b3, "
    f"{', '.join(':' + c for c in ARTICLE_COLUMNS)}) "
    "ON CONFLICT (doc_id) DO NOTHING RETURNING id"
)
_SUPERSEDE_ARTICLE = sa.text(
    f"INSERT INTO article_versions (article_id, raw_sha256, version, {_COLUMNS}) "  # noqa: S608
    f"SELECT id, raw_sha256, version, {_COLUMNS} FROM articles WHERE id = :id"
)
_UPDATE_ARTICLE = sa.text(
    "UPDATE articles SET raw_sha256 = :raw_sha256, version = version + 1, "  # noqa: S608
    "duplicate_of = :duplicate_of, updated_at = now(), "
    "sim_band_0 = :b0, sim_band_1 = :b1, sim_band_2 = :b2, sim_band_3 = :b3, "
    f"{', '.join(f'{c} = :{c}' for c in ARTICLE_COLUMNS)} "
    "WHERE id = :id RETURNING id, version"
)

# Bulk statements of the ingest path, in psycopg's own placeholders: `%(name)b` sends each
# array in binary. Measured on 200 bundles of ~9 KB: 185 ms to insert them through text-format
# arrays (psycopg escapes every element in Python) against 20 ms in binary, and one statement
# per batch instead of two round trips per bundle (1.2 ms per bundle row by row).
_ARRAY_TYPES = {"authors": "text[]", "flags": "text[]"}
_SQL_TYPES = {
    "id": "bigint",
    "doc_id": "text",
    "raw_sha256": "text",
    "duplicate_of": "bigint",
    "near_duplicate_of": "bigint",
    "b0": "smallint",
    "b1": "smallint",
    "b2": "smallint",
    "b3": "smallint",
    "seq": "bigint",
    "published_at": "timestamptz",
    "simhash": "bigint",
}
_BULK_KEYS = (
    "id",
    "doc_id",
    "raw_sha256",
    "duplicate_of",
    "near_duplicate_of",
    "b0",
    "b1",
    "b2",
    "b3",
    *ARTICLE_COLUMNS,
)


def _bulk_source(keys: Sequence[str]) -> str:
    """`unnest(...) AS v(...)` over one binary array per key (text[] columns as JSON text)."""
    arrays = ", ".join(f"%({k})b::{_SQL_TYPES.get(k, 'text')}[]" for k in keys)
    return f"unnest({arrays}) AS v({', '.join(keys)})"


def _bulk_value(key: str) -> str:
    if key in _ARRAY_TYPES:
        # A text[] per row cannot travel inside a (rectangular) array: it goes as JSON text.
        return f"ARRAY(SELECT jsonb_array_elements_text(CAST(v.{key} AS jsonb)))"
    return f"v.{key}"


_BULK_INSERT_ARTICLES = (
    "INSERT INTO articles (id, doc_id, raw_sha256, version, duplicate_of, near_duplicate_of, "  # noqa: S608
    f"sim_band_0, sim_band_1, sim_band_2, sim_band_3, {_COLUMNS}) "
    "SELECT v.id, v.doc_id, v.raw_sha256, 1, v.duplicate_of, v.near_duplicate_of, "
    f"v.b0, v.b1, v.b2, v.b3, {', '.join(_bulk_value(c) for c in ARTICLE_COLUMNS)} "
    f"FROM {_bulk_source(_BULK_KEYS)} "
    "ON CONFLICT (doc_id) DO NOTHING RETURNING id"
)
_BULK_SUPERSEDE_ARTICLES = (
    f"INSERT INTO article_versions (article_id, raw_sha256, version, {_COLUMNS}) "  # noqa: S608
    f"SELECT a.id, a.raw_sha256, a.version, {', '.join('a.' + c for c in ARTICLE_COLUMNS)} "
    "FROM unnest(%(ids)b::bigint[]) WITH ORDINALITY AS u(id, n) JOIN articles a ON a.id = u.id "
    "ORDER BY u.n"
)
_BULK_UPDATE_ARTICLES = (
    "UPDATE articles SET raw_sha256 = v.raw_sha256, version = articles.version + 1, "  # noqa: S608
    "duplicate_of = v.duplicate_of, updated_at = now(), "
    "sim_band_0 = v.b0, sim_band_1 = v.b1, sim_band_2 = v.b2, sim_band_3 = v.b3, "
    f"{', '.join(f'{c} = {_bulk_value(c)}' for c in ARTICLE_COLUMNS)} "
    f"FROM {_bulk_source([k for k in _BULK_KEYS if k != 'near_duplicate_of'])} "
    "WHERE articles.id = v.id RETURNING articles.id, articles.version"
)
_BULK_CLAIM_OWNERS = (
    "INSERT INTO content_owners (content_hash, article_id) "
    "SELECT * FROM unnest(%(hashes)b::text[], %(ids)b::bigint[]) "
    "ON CONFLICT (content_hash) DO NOTHING RETURNING content_hash"
)
_LEDGER_KEYS = (
    "arrival_key",
    "name",
    "doc_id",
    "raw_sha256",
    "size",
    "outcome",
    "reason",
    "message",
    "article_id",
    "version",
    "normalizer_version",
    "seen_at",
    "claimed_at",
)
_LEDGER_TYPES = {
    "size": "bigint",
    "article_id": "bigint",
    "version": "integer",
    "seen_at": "timestamptz",
    "claimed_at": "timestamptz",
}
# No ON CONFLICT: a duplicate arrival here means two workers raced one file, and the unique
# violation rolls this whole transaction back instead of applying it twice.
_BULK_INSERT_LEDGER = (
    f"INSERT INTO ingest_ledger ({', '.join(_LEDGER_KEYS)}) SELECT * FROM unnest("  # noqa: S608
    + ", ".join(f"%({k})b::{_LEDGER_TYPES.get(k, 'text')}[]" for k in _LEDGER_KEYS)
    + ")"
)


class _Contended(Exception):
    """A concurrent writer took a doc_id or a content hash between our scans and our writes."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One arrival of one file: its ledger key and when it was seen and claimed."""

    arrival_key: str
    name: str
    seen_at: datetime | None = None
    claimed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A parsed bundle to upsert."""

    arrival: Arrival
    bundle: ParsedBundle


@dataclass(frozen=True, slots=True)
class Rejected:
    """A bundle going to quarantine; recorded in the ledger with its reason code."""

    arrival: Arrival
    reason: ReasonCode
    message: str
    doc_id: str | None = None
    raw_sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class SameBytes:
    """A bundle whose bytes equal the current version of its doc_id: no parse needed."""

    arrival: Arrival
    doc_id: str
    raw_sha256: str
    size: int


Item = Accepted | Rejected | SameBytes


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the ledger says of one arrival after the transaction."""

    arrival_key: str
    outcome: str | None  # None: not recorded, parse the bundle again (its doc_id moved on)
    reason: str | None = None
    article_id: int | None = None
    version: int | None = None
    replayed: bool = False  # committed by an earlier run: only the file move was missing


@dataclass
class _DocState:
    article_id: int
    version: int
    fields_hash: str
    raw_sha256: str
    content_hash: str


@dataclass
class _Writes:
    """Article writes planned for one bulk statement each; a doc_id appears at most once."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    claims: list[tuple[str, int]] = field(default_factory=list)
    docs: set[str] = field(default_factory=set)


@dataclass
class _Batch:
    conn: Connection
    docs: dict[str, _DocState | None] = field(default_factory=dict)
    owners: dict[str, int] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    writes: _Writes = field(default_factory=_Writes)
    ids: Iterator[int] = field(default_factory=lambda: iter(()))


def _columns(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, list[Any]]:
    """Rows as one list per key, the shape of the bulk statements' binary arrays."""
    columns = {key: [row[key] for row in rows] for key in keys}
    for key in _ARRAY_TYPES.keys() & set(keys):
        columns[key] = [json.dumps(value, ensure_ascii=False) for value in columns[key]]
    return columns


def to_signed64(value: int) -> int:
    """Map an unsigned 64-bit value onto PostgreSQL's signed bigint range."""
    return value - (1 << 64) if value >= (1 << 63) else value


def simhash_bands(simhash: int) -> tuple[int, int, int, int]:
    """Split a 64-bit fingerprint into four signed 16-bit bands for the band indexes."""
    unsigned = simhash & 0xFFFF_FFFF_FFFF_FFFF
    return tuple(((unsigned >> (16 * i)) & 0xFFFF) - 0x8000 for i in range(4))  # type: ignore[return-value]


def probe_masks(radius: int = PROBE_RADIUS) -> list[int]:
    """The 16-bit XOR masks of every band value within `radius` bits (1 + 16 for radius 1)."""
    return [
        sum(1 << bit for bit in bits)
        for r in range(radius + 1)
        for bits in itertools.combinations(range(16), r)
    ]


def simhash_probes(simhash: int, radius: int = PROBE_RADIUS) -> list[list[int]]:
    """For each band, the signed band values within `radius` bits of the fingerprint's."""
    unsigned = simhash & 0xFFFF_FFFF_FFFF_FFFF
    return [
        [(((unsigned >> (16 * band)) & 0xFFFF) ^ mask) - 0x8000 for mask in probe_masks(radius)]
        for band in range(4)
    ]


# The probes: each fingerprint q.s with each mask m.mask of `probe_masks` (4 x 17 per
# fingerprint), computed by the server from the fingerprints and the masks: measured per
# 200-bundle batch, 61 ms when the client built and sent the 13,600 probes against 14 ms now.
_PROBES = "unnest(%(s)b::bigint[]) AS q(s) CROSS JOIN unnest(%(masks)b::integer[]) AS m(mask)"
# An article's cluster root, spelled as the band indexes spell it (models._CLUSTER_ROOT), so
# that the probes can walk those indexes in root order.
_ROOT = "coalesce(a.near_duplicate_of, a.id)"
# The distance is checked in SQL, so only true near duplicates come back, however many rows
# share a band value.
_WITHIN_DISTANCE = "bit_count(CAST(a.simhash # q.s AS bit(64))) <= %(k)s"


def _band_probe(band: int) -> str:
    """SQL: article `a` has the probe's value (the band's bits flipped by the mask) in `band`."""
    return (
        f"a.sim_band_{band} = CAST((((q.s >> {16 * band}) & 65535) # m.mask) - 32768 AS smallint)"
    )


def _probe_params(simhashes: Sequence[int]) -> dict[str, Any]:
    return {
        "s": sorted({to_signed64(value) for value in simhashes}),
        "masks": probe_masks(),
        "k": NEAR_DUPLICATE_DISTANCE,
    }


# One join per band between the probes and its index.
_NEAR_CANDIDATES = " UNION ".join(
    f"SELECT a.id, a.simhash, {_ROOT} AS root "  # noqa: S608
    f"FROM {_PROBES} JOIN articles a ON {_band_probe(band)} WHERE {_WITHIN_DISTANCE}"
    for band in range(4)
)


def near_duplicate_candidates(
    conn: Connection, simhashes: Sequence[int]
) -> dict[int, tuple[int, int]]:
    """Articles within NEAR_DUPLICATE_DISTANCE of any fingerprint: id -> (cluster root, simhash)."""
    rows = conn.exec_driver_sql(_NEAR_CANDIDATES, _probe_params(simhashes))
    return {row.id: (row.root, row.simhash) for row in rows}


# The ingest path needs only the earliest cluster root within reach of each fingerprint, not
# every neighbour. Each band probe walks its (band, cluster root) index in root order and stops
# at the first article within distance: on bundles grown from five seeds, where every article
# is a neighbour of thousands, fetching them all cost PostgreSQL ~220 us per bundle at 20,000
# articles and grew with the cluster.
_NEAR_ROOT_BANDS = " UNION ALL ".join(
    f"SELECT q.s, r.root FROM {_PROBES} "  # noqa: S608
    f"CROSS JOIN LATERAL (SELECT {_ROOT} AS root FROM articles a "
    f"WHERE {_band_probe(band)} AND {_WITHIN_DISTANCE} ORDER BY {_ROOT} LIMIT 1) AS r"
    for band in range(4)
)
_NEAR_ROOTS = f"SELECT c.s, min(c.root) AS root FROM ({_NEAR_ROOT_BANDS}) AS c GROUP BY c.s"  # noqa: S608


def near_duplicate_roots(conn: Connection, simhashes: Sequence[int]) -> dict[int, int]:
    """Signed fingerprint -> the earliest cluster root among articles within reach of it."""
    rows = conn.exec_driver_sql(_NEAR_ROOTS, _probe_params(simhashes))
    return {row.s: row.root for row in rows}


@dataclass
class _Near:
    """Near-duplicate roots for one batch: from the database, then from the batch itself."""

    stored: dict[int, int] = field(default_factory=dict)  # signed fingerprint -> root
    batch: list[tuple[int, int]] = field(default_factory=list)  # (root, signed fingerprint)

    def root(self, simhash: int) -> int | None:
        """The earliest root within NEAR_DUPLICATE_DISTANCE of `simhash`, if any."""
        signed = to_signed64(simhash)
        roots = [
            root
            for root, other in self.batch
            if ((signed ^ other) & _MASK64).bit_count() <= NEAR_DUPLICATE_DISTANCE
        ]
        stored = self.stored.get(signed)
        if stored is not None:
            roots.append(stored)
        return min(roots) if roots else None

    def add(self, root: int, signed: int) -> None:
        """An article of this batch, a candidate for the bundles after it."""
        self.batch.append((root, signed))


_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


def create_db_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine on psycopg 3 for `url`; connects lazily, never at import or creation."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(
        url,
        pool_size=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "newsdrop"},
    )


# What the server says when it refuses the login itself: no retry can fix the URL. psycopg gives
# no SQLSTATE for a failed connection, so its message is all there is (it holds no password).
_LOGIN_REFUSED = (
    ("password authentication failed", "password authentication failed"),
    ("authentication failed", "authentication failed"),
    ("no pg_hba.conf entry", "no pg_hba.conf entry allows this user, host and database"),
    ("does not exist", "the role or the database does not exist"),
)


def _login_refused(exc: sa_exc.DBAPIError) -> str | None:
    text = str(exc.orig)
    if "connection failed" not in text or "FATAL" not in text:
        return None
    return next((meaning for marker, meaning in _LOGIN_REFUSED if marker in text), None)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn connection-level failures into `DatabaseUnavailable` (transient, retried)."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        refused = _login_refused(exc)
        if refused is not None:
            raise ConfigError(
                f"PostgreSQL refused the login ({refused}): check the user, password and "
                "database in NEWSDROP_DATABASE_URL (its value is not shown)"
            ) from None
        raise DatabaseUnavailable("database unavailable") from exc
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable("database connection lost") from exc
        raise


def alembic_config(engine: Engine) -> Any:
    """An Alembic config that runs the migrations shipped in this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("service") / "migrations"))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


class Store:
    """Articles, raw bundles and the ingest ledger in PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> str:
        """Upgrade the schema to the newest migration; returns the revision now in force."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        with translate_errors(), self.engine.begin() as conn:
            # Two processes starting at once must not both run the DDL.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7461626)"))
            config = alembic_config(self.engine)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            revision = MigrationContext.configure(conn).get_current_revision()
        return revision or "base"

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with translate_errors(), self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except DatabaseUnavailable:
            return False
        return True

    def vacuum_articles(self) -> None:
        """VACUUM `articles` (skipped when another vacuum holds it): see `Daemon._keep_visible`."""
        with (
            translate_errors(),
            self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        ):
            # Not a transaction block: VACUUM refuses to run inside one.
            conn.exec_driver_sql("VACUUM (SKIP_LOCKED) articles")

    # -- ingest ---------------------------------------------------------------------------

    def same_bytes_as_current(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (doc_id, raw_sha256) pairs whose bytes are already the current article."""
        if not pairs:
            return set()
        with translate_errors(), self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT a.doc_id, a.raw_sha256 FROM articles a "
                "JOIN unnest(%(docs)b::text[], %(shas)b::text[]) AS p(doc_id, sha) "
                "ON a.doc_id = p.doc_id AND a.raw_sha256 = p.sha",
                {"docs": [p[0] for p in pairs], "shas": [p[1] for p in pairs]},
            )
            return {(row.doc_id, row.raw_sha256) for row in rows}

    def committed(self, arrival_keys: Sequence[str]) -> dict[str, Recorded]:
        """Ledger rows already committed for these arrivals (crash recovery)."""
        if not arrival_keys:
            return {}
        with translate_errors(), self.engine.connect() as conn:
            return self._committed(conn, arrival_keys)

    @staticmethod
    def _committed(conn: Connection, arrival_keys: Sequence[str]) -> dict[str, Recorded]:
        rows = conn.exec_driver_sql(
            "SELECT arrival_key, outcome, reason, article_id, version FROM ingest_ledger "
            "WHERE arrival_key = ANY(%(keys)b::text[])",
            {"keys": list(arrival_keys)},
        )
        return {
            row.arrival_key: Recorded(
                row.arrival_key, row.outcome, row.reason, row.article_id, row.version, True
            )
            for row in rows
        }

    def record(
        self, items: Sequence[Item], before_commit: Callable[[], None] | None = None
    ) -> list[Recorded]:
        """Apply a batch of bundles and their ledger rows in one transaction."""
        if not items:
            return []
        try:
            return self._transaction(items, before_commit, bulk=True)
        except _Contended:
            # Another writer got in between our scans and our bulk writes (a second daemon or
            # `ingest` on the same database): redo the batch row by row, which resolves each
            # conflict where it meets it.
            return self._transaction(items, before_commit, bulk=False)

    def _transaction(
        self, items: Sequence[Item], before_commit: Callable[[], None] | None, *, bulk: bool
    ) -> list[Recorded]:
        with translate_errors(), self.engine.begin() as conn:
            # The batch's queries are many short index probes whose estimated cost crosses
            # jit_above_cost: compiling them took 60 of 100 ms in the near-duplicate query.
            # SET LOCAL ends with the transaction, so it is safe behind a transaction pooler.
            conn.exec_driver_sql("SET LOCAL jit = off")
            results = self._record(conn, items, bulk=bulk)
            if before_commit is not None:
                before_commit()
            return results

    def _record(
        self, conn: Connection, items: Sequence[Item], *, bulk: bool = True
    ) -> list[Recorded]:
        batch = _Batch(conn)
        done = self._committed(conn, [item.arrival.arrival_key for item in items])
        fresh = [item for item in items if item.arrival.arrival_key not in done]
        self._insert_raw(conn, [i.bundle for i in fresh if isinstance(i, Accepted)])
        self._lock_docs(batch, fresh)
        self._load_owners(batch, [i.bundle for i in fresh if isinstance(i, Accepted)])
        near = self._near_duplicates(conn, [i.bundle for i in fresh if isinstance(i, Accepted)])
        if bulk:
            new_docs = {
                i.bundle.article.doc_id
                for i in fresh
                if isinstance(i, Accepted) and batch.docs.get(i.bundle.article.doc_id) is None
            }
            batch.ids = iter(self._allocate_ids(conn, len(new_docs)))
        results: dict[str, Recorded] = dict(done)
        for item in fresh:
            key = item.arrival.arrival_key
            if isinstance(item, Rejected):
                results[key] = self._ledger(batch, item, "quarantined", reason=item.reason.value)
            elif isinstance(item, SameBytes):
                state = batch.docs.get(item.doc_id)
                if state is None or state.raw_sha256 != item.raw_sha256:
                    results[key] = Recorded(key, None)
                    continue
                results[key] = self._ledger(
                    batch, item, "unchanged", article_id=state.article_id, version=state.version
                )
            elif bulk:
                results[key] = self._plan_upsert(batch, item, near)
            else:
                results[key] = self._upsert(batch, item, near)
        self._apply(batch)
        self._flush_ledger(batch)
        self._notify(
            conn,
            [
                r.article_id
                for r in results.values()
                if r.article_id and not r.replayed and r.outcome in _CHANGED
            ],
        )
        return [results[item.arrival.arrival_key] for item in items]

    @staticmethod
    def _notify(conn: Connection, article_ids: Sequence[int]) -> None:
        """NOTIFY listeners of changed article ids; delivered by PostgreSQL at COMMIT."""
        ids = sorted(set(article_ids))
        for start in range(0, len(ids), NOTIFY_IDS_PER_MESSAGE):
            payload = json.dumps({"ids": ids[start : start + NOTIFY_IDS_PER_MESSAGE]})
            conn.execute(
                sa.text("SELECT pg_notify(:channel, :payload)"),
                {"channel": NOTIFY_CHANNEL, "payload": payload},
            )

    @staticmethod
    def _insert_raw(conn: Connection, bundles: Sequence[ParsedBundle]) -> None:
        if not bundles:
            return
        conn.exec_driver_sql(
            "INSERT INTO raw_bundles (sha256, name, size, encoding, text) "
            "SELECT * FROM unnest(%(shas)b::text[], %(names)b::text[], %(sizes)b::bigint[], "
            "%(encs)b::text[], %(texts)b::text[]) "
            "ON CONFLICT (sha256) DO NOTHING",
            {
                "shas": [b.raw_sha256 for b in bundles],
                "names": [b.name for b in bundles],
                "sizes": [b.size for b in bundles],
                "encs": [b.encoding for b in bundles],
                "texts": [b.text for b in bundles],
            },
        )

    @staticmethod
    def _lock_docs(batch: _Batch, items: Sequence[Item]) -> None:
        doc_ids = sorted(
            {i.bundle.article.doc_id for i in items if isinstance(i, Accepted)}
            | {i.doc_id for i in items if isinstance(i, SameBytes)}
        )
        batch.docs = dict.fromkeys(doc_ids)
        if not doc_ids:
            return
        # ORDER BY takes the row locks in one global order, so concurrent batches cannot deadlock.
        rows = batch.conn.exec_driver_sql(
            "SELECT id, doc_id, version, fields_hash, raw_sha256, content_hash FROM articles "
            "WHERE doc_id = ANY(%(ids)b::text[]) ORDER BY doc_id FOR UPDATE",
            {"ids": doc_ids},
        )
        for row in rows:
            batch.docs[row.doc_id] = _DocState(
                row.id, row.version, row.fields_hash, row.raw_sha256, row.content_hash
            )

    @staticmethod
    def _load_owners(batch: _Batch, bundles: Sequence[ParsedBundle]) -> None:
        hashes = sorted({b.article.content_hash for b in bundles})
        if not hashes:
            return
        rows = batch.conn.exec_driver_sql(
            "SELECT content_hash, article_id FROM content_owners "
            "WHERE content_hash = ANY(%(hashes)b::text[])",
            {"hashes": hashes},
        )
        batch.owners = {row.content_hash: row.article_id for row in rows}

    @staticmethod
    def _near_duplicates(conn: Connection, bundles: Sequence[ParsedBundle]) -> _Near:
        """The earliest near-duplicate root stored for each bundle of the batch."""
        if not bundles:
            return _Near()
        return _Near(near_duplicate_roots(conn, [b.article.simhash for b in bundles]))

    def _upsert(self, batch: _Batch, item: Accepted, near: _Near) -> Recorded:
        conn = batch.conn
        article = item.bundle.article
        state = batch.docs.get(article.doc_id)
        values = self._article_values(item.bundle)
        if state is not None and state.fields_hash == item.bundle.fields_hash:
            return self._ledger(
                batch, item, "unchanged", article_id=state.article_id, version=state.version
            )
        owner = batch.owners.get(article.content_hash)
        if state is None:
            values["duplicate_of"] = owner
            values["near_duplicate_of"] = near.root(article.simhash)
            row = conn.execute(
                _INSERT_ARTICLE,
                values,
            ).first()
            if row is None:
                # A concurrent writer inserted this doc_id after our lock scan: take its row.
                self._lock_docs(batch, [item])
                return self._upsert(batch, item, near)
            article_id, version = row.id, 1
            near.add(values["near_duplicate_of"] or article_id, values["simhash"])
        else:
            conn.execute(
                _SUPERSEDE_ARTICLE,
                {"id": state.article_id},
            )
            values["id"] = state.article_id
            values["duplicate_of"] = owner if owner != state.article_id else None
            row = conn.execute(
                _UPDATE_ARTICLE,
                values,
            ).one()
            article_id, version = row.id, row.version
        claimed = conn.execute(
            sa.text(
                "INSERT INTO content_owners (content_hash, article_id) VALUES (:h, :id) "
                "ON CONFLICT (content_hash) DO NOTHING RETURNING article_id"
            ),
            {"h": article.content_hash, "id": article_id},
        ).first()
        if claimed is None and owner is None:
            # Another transaction owned this content first, after our owner scan.
            owner = conn.execute(
                sa.text(
                    "UPDATE articles SET duplicate_of = o.article_id FROM content_owners o "
                    "WHERE o.content_hash = :h AND articles.id = :id AND o.article_id <> :id "
                    "RETURNING o.article_id"
                ),
                {"h": article.content_hash, "id": article_id},
            ).scalar()
        elif claimed is not None:
            owner = None
        batch.owners.setdefault(article.content_hash, article_id)
        batch.docs[article.doc_id] = _DocState(
            article_id,
            version,
            item.bundle.fields_hash,
            item.bundle.raw_sha256,
            article.content_hash,
        )
        if state is not None:
            outcome = "updated"
        elif owner is not None and owner != article_id:
            outcome = "duplicate"
        else:
            outcome = "inserted"
        return self._ledger(batch, item, outcome, article_id=article_id, version=version)

    @staticmethod
    def _allocate_ids(conn: Connection, count: int) -> list[int]:
        """`count` article ids from the table's own sequence, in increasing order."""
        if count == 0:
            return []
        rows = conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('articles', 'id')) "
            "FROM generate_series(1, %(n)s)",
            {"n": count},
        )
        return sorted(row[0] for row in rows)

    def _plan_upsert(self, batch: _Batch, item: Accepted, near: _Near) -> Recorded:
        """`_upsert` decided in Python, the rows queued for `_apply` (ids allocated up front)."""
        article = item.bundle.article
        state = batch.docs.get(article.doc_id)
        if state is not None and state.fields_hash == item.bundle.fields_hash:
            return self._ledger(
                batch, item, "unchanged", article_id=state.article_id, version=state.version
            )
        if article.doc_id in batch.writes.docs:
            # A second version of a doc_id in one batch: its first must be written before.
            self._apply(batch)
        writes = batch.writes
        values = self._article_values(item.bundle)
        owner = batch.owners.get(article.content_hash)
        if state is None:
            article_id, version = next(batch.ids), 1
            values["id"] = article_id
            values["duplicate_of"] = owner
            values["near_duplicate_of"] = near.root(article.simhash)
            writes.inserts.append(values)
            near.add(values["near_duplicate_of"] or article_id, values["simhash"])
        else:
            article_id, version = state.article_id, state.version + 1
            values["id"] = article_id
            values["version"] = version
            values["duplicate_of"] = owner if owner != article_id else None
            writes.updates.append(values)
        writes.docs.add(article.doc_id)
        if owner is None:
            writes.claims.append((article.content_hash, article_id))
        batch.owners.setdefault(article.content_hash, article_id)
        batch.docs[article.doc_id] = _DocState(
            article_id,
            version,
            item.bundle.fields_hash,
            item.bundle.raw_sha256,
            article.content_hash,
        )
        if state is not None:
            outcome = "updated"
        elif owner is not None and owner != article_id:
            outcome = "duplicate"
        else:
            outcome = "inserted"
        return self._ledger(batch, item, outcome, article_id=article_id, version=version)

    @staticmethod
    def _apply(batch: _Batch) -> None:
        """Write the planned articles and owner claims: one statement per kind."""
        writes, conn = batch.writes, batch.conn
        batch.writes = _Writes()
        if writes.inserts:
            inserted = conn.exec_driver_sql(
                _BULK_INSERT_ARTICLES, _columns(writes.inserts, _BULK_KEYS)
            ).all()
            if len(inserted) != len(writes.inserts):
                raise _Contended("a doc_id was inserted after our lock scan")
        if writes.updates:
            conn.exec_driver_sql(
                _BULK_SUPERSEDE_ARTICLES, {"ids": [v["id"] for v in writes.updates]}
            )
            keys = [k for k in _BULK_KEYS if k != "near_duplicate_of"]
            updated = conn.exec_driver_sql(_BULK_UPDATE_ARTICLES, _columns(writes.updates, keys))
            # The rows are locked FOR UPDATE, so the versions are the planned ones.
            if {row.id: row.version for row in updated} != {
                v["id"]: v["version"] for v in writes.updates
            }:
                raise _Contended("an article changed under our row lock")
        if writes.claims:
            claimed = conn.exec_driver_sql(
                _BULK_CLAIM_OWNERS,
                {"hashes": [h for h, _ in writes.claims], "ids": [i for _, i in writes.claims]},
            ).all()
            if len(claimed) != len(writes.claims):
                raise _Contended("a content hash was owned after our owner scan")

    @staticmethod
    def _article_values(bundle: ParsedBundle) -> dict[str, Any]:
        article = bundle.article
        values: dict[str, Any] = {c: getattr(article, c, None) for c in ARTICLE_COLUMNS}
        values["authors"] = list(article.authors)
        values["flags"] = list(article.flags)
        values["simhash"] = to_signed64(article.simhash)
        values["fields_hash"] = bundle.fields_hash
        values["doc_id"] = article.doc_id
        values["raw_sha256"] = bundle.raw_sha256
        values.update({f"b{i}": band for i, band in enumerate(simhash_bands(article.simhash))})
        return values

    @staticmethod
    def _ledger(
        batch: _Batch,
        item: Item,
        outcome: str,
        *,
        reason: str | None = None,
        article_id: int | None = None,
        version: int | None = None,
    ) -> Recorded:
        doc_id: str | None
        sha: str | None
        size: int | None
        normalizer: str | None = None
        message: str | None = None
        if isinstance(item, Accepted):
            doc_id, sha, size = item.bundle.article.doc_id, item.bundle.raw_sha256, item.bundle.size
            normalizer = item.bundle.article.normalizer_version
        elif isinstance(item, SameBytes):
            doc_id, sha, size = item.doc_id, item.raw_sha256, item.size
        else:
            doc_id, sha, size, message = item.doc_id, item.raw_sha256, item.size, item.message
        batch.ledger.append(
            {
                "arrival_key": item.arrival.arrival_key,
                "name": item.arrival.name,
                "doc_id": doc_id,
                "raw_sha256": sha,
                "size": size,
                "outcome": outcome,
                "reason": reason,
                "message": message,
                "article_id": article_id,
                "version": version,
                "normalizer_version": normalizer,
                "seen_at": item.arrival.seen_at,
                "claimed_at": item.arrival.claimed_at,
            }
        )
        return Recorded(item.arrival.arrival_key, outcome, reason, article_id, version)

    @staticmethod
    def _flush_ledger(batch: _Batch) -> None:
        if not batch.ledger:
            return
        batch.conn.exec_driver_sql(_BULK_INSERT_LEDGER, _columns(batch.ledger, _LEDGER_KEYS))

    # -- reading ---------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        """The figures of `newsdrop status --json` that live in the database."""
        with translate_errors(), self.engine.connect() as conn:
            articles, versions = conn.execute(
                sa.text("SELECT count(*), coalesce(sum(version), 0) FROM articles")
            ).one()
            files = dict.fromkeys(
                ("inserted", "updated", "unchanged", "duplicate", "quarantined"), 0
            )
            for row in conn.execute(
                sa.text("SELECT outcome, count(*) AS n FROM ingest_ledger GROUP BY outcome")
            ):
                files[row.outcome] = row.n
        return {"articles": int(articles), "versions": int(versions), "files": files}

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest ledger rows, newest first."""
        with translate_errors(), self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT name, doc_id, outcome, reason, committed_at, "
                    "extract(epoch FROM committed_at - claimed_at) * 1000 AS ms "
                    "FROM ingest_ledger ORDER BY id DESC LIMIT :limit"
                ),
                {"limit": limit},
            )
            return [
                {
                    "name": r.name,
                    "doc_id": r.doc_id,
                    "outcome": r.outcome,
                    "reason": r.reason,
                    "at": r.committed_at.isoformat(),
                    "ms": round(float(r.ms), 1) if r.ms is not None else None,
                }
                for r in rows
            ]

    def quarantined(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest quarantined arrivals with their reason codes."""
        with translate_errors(), self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT name, reason, committed_at FROM ingest_ledger "
                    "WHERE outcome = 'quarantined' ORDER BY id DESC LIMIT :limit"
                ),
                {"limit": limit},
            )
            return [
                {"name": r.name, "reason": r.reason, "at": r.committed_at.isoformat()} for r in rows
            ]

    def throughput(self, minutes: int = 60) -> list[dict[str, Any]]:
        """Files committed per minute over the last `minutes`."""
        with translate_errors(), self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT date_trunc('minute', committed_at) AS minute, count(*) AS n "
                    "FROM ingest_ledger WHERE committed_at > now() - make_interval(mins => :m) "
                    "GROUP BY 1 ORDER BY 1"
                ),
                {"m": minutes},
            )
            return [{"minute": r.minute.isoformat(), "files": int(r.n)} for r in rows]
