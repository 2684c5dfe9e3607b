"""The near-duplicate probe query against a large corpus: covering band indexes vs plain ones.

    python bench/near_probe.py --database-url postgresql://postgres@127.0.0.1:5432/test --n 1000000

A scratch database at head gets `n` stored articles with random fingerprints (about 15 per
16-bit band value at a million, none within reach of the probes), vacuumed as a settled
corpus is. It times the ingest path's query (`near_duplicate_roots`) for batches of 200
new fingerprints with the head's covering indexes, then downgraded to migration 0003's
plain (band, cluster root) indexes in the same run, and drops the database.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import fresh_database

from service import store as S

_FILL_RAW = """
INSERT INTO raw_bundles (sha256, name, size, encoding, text)
SELECT md5(g::text), g || '.txt', 1, 'utf-8', 'x' FROM generate_series(1, %(n)s) g
"""
_FILL = """
INSERT INTO articles (seq, title, body, authors, script, encoding, flags, content_hash, simhash,
    normalizer_version, fields_hash, version, doc_id, raw_sha256,
    sim_band_0, sim_band_1, sim_band_2, sim_band_3)
SELECT 1, 't', 'b', '{}', 'zh-Hans', 'utf-8', '{}', md5(g::text), h, '0', md5(g::text), 1,
    'doc' || g, md5(g::text), (((h >> 0) & 65535) - 32768)::smallint,
    (((h >> 16) & 65535) - 32768)::smallint, (((h >> 32) & 65535) - 32768)::smallint,
    (((h >> 48) & 65535) - 32768)::smallint
FROM (SELECT g, (random() * 18446744073709551615 - 9223372036854775808)::numeric::bigint AS h
      FROM generate_series(1, %(n)s) g) AS s
"""


def _time_probes(conn: psycopg.Connection, batches: list[list[int]]) -> tuple[float, list[Any]]:
    """Best milliseconds over the batches (each run twice: the second warm), and the roots."""
    best = float("inf")
    found: list[Any] = []
    for hashes in batches * 2:
        started = time.perf_counter()
        found.append(sorted(conn.execute(S._NEAR_ROOTS, S._probe_params(hashes)).fetchall()))
        best = min(best, time.perf_counter() - started)
    return best * 1000, found


def _downgrade_to_plain_indexes(url: str) -> None:
    """Migration 0003's (band, cluster root) indexes, by the project's own downgrade."""
    from alembic import command

    from service.store import alembic_config, create_db_engine

    engine = create_db_engine(url)
    try:
        command.downgrade(alembic_config(engine), "0003")
    finally:
        engine.dispose()


def main() -> None:
    """Fill, measure both index forms, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--n", type=int, default=1_000_000, help="stored articles")
    parser.add_argument("--batches", type=int, default=5, help="batches of 200 probed")
    args = parser.parse_args()

    rng = random.Random(7)
    batches = [[rng.getrandbits(64) for _ in range(200)] for _ in range(args.batches)]
    with (
        fresh_database(args.database_url, prefix="newsdrop_probe") as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        started = time.perf_counter()
        conn.execute(_FILL_RAW, {"n": args.n})
        conn.execute(_FILL, {"n": args.n})
        conn.execute("VACUUM ANALYZE articles")
        print(f"{args.n:,} articles stored in {time.perf_counter() - started:.0f} s")
        conn.execute("SET jit = off")  # as the ingest transaction does
        size = "pg_size_pretty(pg_relation_size('ix_articles_sim_band_0_{}'))"
        # One article within reach of the first probe, so that the roots are compared on a
        # hit as well as on misses.
        near = batches[0][0] ^ 0b1011
        conn.execute(
            "UPDATE articles SET simhash = %(h)s, sim_band_0 = %(b0)s, sim_band_1 = %(b1)s,"
            " sim_band_2 = %(b2)s, sim_band_3 = %(b3)s WHERE id = 1",
            {"h": S.to_signed64(near)}
            | {f"b{band}": bands for band, bands in enumerate(S.simhash_bands(near))},
        )
        conn.execute("VACUUM ANALYZE articles")
        covering, covering_roots = _time_probes(conn, batches)
        covering_size = conn.execute(f"SELECT {size.format('probe')}").fetchone()[0]
        _downgrade_to_plain_indexes(url)
        conn.execute("VACUUM ANALYZE articles")
        plain, plain_roots = _time_probes(conn, batches)
        plain_size = conn.execute(f"SELECT {size.format('root')}").fetchone()[0]
    print(f"covering band indexes: {covering:.1f} ms per 200 fingerprints ({covering_size})")
    print(f"plain band indexes:    {plain:.1f} ms per 200 fingerprints ({plain_size})")
    print(f"plain / covering:      {plain / covering:.1f}x")
    same = covering_roots == plain_roots and any(covering_roots)
    print(f"same roots found:      {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
