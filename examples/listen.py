"""Follow newsdrop's changes live: LISTEN newsdrop_articles, then fetch the changed rows.

newsdrop sends `NOTIFY newsdrop_articles, '{"ids": [...]}'` after every committed batch
(ingest and reprocess), with the ids of the articles inserted or updated. Notifications
are delivered only while a listener is connected: after a reconnect, catch up with
`newsdrop export --updated-after <last updated_at seen>`.

    python examples/listen.py postgresql://user@host/db            # print changes forever
    python examples/listen.py "$NEWSDROP_DATABASE_URL" --count 1   # stop after one batch
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row

CHANNEL = "newsdrop_articles"
FETCH = (
    "SELECT id, doc_id, version, title, source, published_at, updated_at, "
    "duplicate_of, near_duplicate_of FROM articles WHERE id = ANY(%s) ORDER BY id"
)


def changes(url: str, count: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Yield the changed articles of each notification (`count` of them, or forever)."""
    # autocommit: LISTEN takes effect at once, and no transaction stays open while we wait.
    with (
        psycopg.connect(url, autocommit=True) as listener,
        psycopg.connect(url, autocommit=True, row_factory=dict_row) as reader,
    ):
        listener.execute(f"LISTEN {CHANNEL}")
        print(f"listening on {CHANNEL}", file=sys.stderr, flush=True)
        for received, notify in enumerate(listener.notifies(), start=1):
            ids = json.loads(notify.payload)["ids"]
            yield reader.execute(FETCH, (ids,)).fetchall()
            if count is not None and received >= count:
                return


def main() -> int:
    """Print one JSON line per changed article."""
    parser = argparse.ArgumentParser(description="Print newsdrop's article changes as JSON lines.")
    parser.add_argument("url", help="the PostgreSQL URL newsdrop writes to")
    parser.add_argument("--count", type=int, help="stop after this many notifications")
    args = parser.parse_args()
    for rows in changes(args.url, args.count):
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
