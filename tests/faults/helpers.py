"""Shared tools of the fault suite: unique bundles, a daemon with a command prefix, the tally.

The tally is the one invariant every fault test checks: each dropped bundle ends as exactly
one committed ledger row (found by its name), no doc_id has two article rows, and nothing is
left in the inbox or in processing/.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.support import SEEDS, Daemon, folder_files, wait_until

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Report = Callable[..., None]
"""Records a scenario's numbers (keyword arguments) for the end-of-run summary."""


# -- bundles -------------------------------------------------------------------------------


@functools.cache
def _seed_halves() -> tuple[tuple[str, str], ...]:
    """Each seed split at the end of its longest line: a sentence inserted there is body text."""
    halves = []
    for seed in sorted(SEEDS.glob("*.txt")):
        text = seed.read_text(encoding="utf-8")
        lines = text.split("\n")
        longest = max(range(len(lines)), key=lambda n: len(lines[n]))
        cut = sum(len(line) + 1 for line in lines[: longest + 1]) - 1
        halves.append((text[:cut], text[cut:]))
    return tuple(halves)


def doc_id_of(tag: str, n: int) -> str:
    """A 16-hex doc_id unique to (tag, n)."""
    return hashlib.sha256(f"{tag}:{n}".encode()).hexdigest()[:16]


def bundle_name(n: int, doc_id: str) -> str:
    """`<seq>_<doc_id>.txt` with a zero-padded seq."""
    return f"{n:05d}_{doc_id}.txt"


def bundle_bytes(tag: str, n: int) -> bytes:
    """A valid bundle: a seed page with one sentence of its own in the longest paragraph."""
    before, after = _seed_halves()[n % len(_seed_halves())]
    sentence = f"本次测试稿件编号{tag}第{n}号，此句独一无二。"
    return (before + sentence + after).encode("utf-8")


@functools.cache
def _hanzi() -> str:
    """The CJK characters of the seed pages: a pool for random-looking, dissimilar texts."""
    text = "".join(seed.read_text(encoding="utf-8") for seed in sorted(SEEDS.glob("*.txt")))
    return "".join(sorted({c for c in text if "\u4e00" <= c <= "\u9fff"}))


def small_bundle_bytes(tag: str, n: int) -> bytes:
    """A tiny bundle (title and two sentences) for tests that need thousands, fast.

    Its characters are drawn by a hash, so no two are near-duplicates of each other (similar
    texts would all land in one near-duplicate cluster and measure that instead).
    """
    pool = _hanzi()
    digest = hashlib.sha512(f"{tag}:{n}".encode()).digest()
    chars = [pool[(digest[i] << 8 | digest[i + 1]) % len(pool)] for i in range(0, 62, 2)]
    title, body = "".join(chars[:9]), "".join(chars[9:])
    return f"{title}{n}\n\n{body[:11]}，{body[11:]}。第{n}号测试稿件。\n".encode()


def write_bundles(
    folder: Path, count: int, *, tag: str, start: int = 0, small: bool = False
) -> dict[str, bytes]:
    """Write `count` unique bundles into `folder`; returns name -> bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for n in range(start, start + count):
        data = small_bundle_bytes(tag, n) if small else bundle_bytes(tag, n)
        name = bundle_name(n, doc_id_of(tag, n))
        (folder / name).write_bytes(data)
        made[name] = data
    return made


def rename_into(staging: Path, inbox: Path, names: Iterable[str]) -> None:
    """Drop staged bundles into the inbox the way producers should: one rename() each."""
    for name in names:
        os.rename(staging / name, inbox / name)


# -- the daemon ----------------------------------------------------------------------------


class FaultDaemon(Daemon):
    """`newsdrop run` that can be wrapped (setpriv, unshare) and measured (CPU time, HTTP)."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str,
        *,
        prefix: Sequence[str] = (),
        **settings: Any,
    ) -> None:
        super().__init__(data_dir, database_url, **settings)
        self.prefix = list(prefix)

    def start(self, wait_ready: bool = True) -> FaultDaemon:
        """Start the daemon (behind the prefix command, which must exec it in place)."""
        if not self.prefix:
            super().start(wait_ready)
            return self
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "service", "run"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.data_dir.parent,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        if wait_ready:
            try:
                wait_until(lambda: self.event("daemon.started") or self._died(), timeout=60)
                assert self.proc.poll() is None, self.tail()
            except AssertionError:
                self.kill()
                raise
        return self

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User plus system CPU time the daemon has used so far (from /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def get(self, path: str) -> tuple[int, str]:
        """GET a path of the daemon's HTTP server: (status, body)."""
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str) -> float:
        """Sum of every sample of a Prometheus metric (0 when absent)."""
        _, body = self.get("/metrics")
        total = 0.0
        for line in body.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total

    def done(self) -> list[dict[str, Any]]:
        """The canonical per-file lines so far."""
        return self.event("ingest.file_done")


# -- the tally -----------------------------------------------------------------------------


@dataclass
class Tally:
    """What became of a set of dropped bundles."""

    dropped: int
    committed: int  # bundles with exactly one ledger row
    duplicates: int  # extra ledger rows beyond one per bundle
    lost: int  # bundles with no ledger row
    articles: int
    distinct_doc_ids: int
    max_version: int
    in_inbox: int
    in_processing: int
    processed_files: int
    quarantined_files: int

    def as_dict(self) -> dict[str, int]:
        """The numbers, for the report."""
        return asdict(self)


def ledger_counts(db_url: str) -> dict[str, int]:
    """Ledger rows per file name (none while the daemon has not migrated the database yet)."""
    try:
        with psycopg.connect(db_url) as conn:
            rows = conn.execute("SELECT name, count(*) FROM ingest_ledger GROUP BY name").fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    return {str(name): int(n) for name, n in rows}


def scalar(db_url: str, sql: str, *params: Any) -> Any:
    """One value from the database."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def ledger_rows(db_url: str) -> int:
    """Every ledger row (0 while the daemon has not migrated the database yet)."""
    try:
        return int(scalar(db_url, "SELECT count(*) FROM ingest_ledger"))
    except psycopg.errors.UndefinedTable:
        return 0


def tally(db_url: str, data_dir: Path, names: Iterable[str]) -> Tally:
    """Count outcomes of `names` in the ledger, the articles table and the folders."""
    wanted = list(names)
    counts = ledger_counts(db_url)
    with psycopg.connect(db_url) as conn:
        articles, distinct, max_version = conn.execute(
            "SELECT count(*), count(DISTINCT doc_id), coalesce(max(version), 0) FROM articles"
        ).fetchone() or (0, 0, 0)
    quarantine = [
        p for p in folder_files(data_dir / "quarantine") if not p.name.endswith(".error.json")
    ]
    return Tally(
        dropped=len(wanted),
        committed=sum(1 for n in wanted if counts.get(n, 0) == 1),
        duplicates=sum(max(0, counts.get(n, 0) - 1) for n in wanted),
        lost=sum(1 for n in wanted if counts.get(n, 0) == 0),
        articles=int(articles),
        distinct_doc_ids=int(distinct),
        max_version=int(max_version),
        in_inbox=len(folder_files(data_dir / "inbox")),
        in_processing=len(folder_files(data_dir / "processing")),
        processed_files=len(folder_files(data_dir / "processed")),
        quarantined_files=len(quarantine),
    )


def is_empty(folder: Path) -> bool:
    """True when the folder has no entry (without listing all of a big one)."""
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def wait_committed(db_url: str, names: Sequence[str], timeout: float) -> None:
    """Poll until every name has a ledger row (whatever else waits in the folders)."""
    wanted = set(names)
    wait_until(lambda: wanted <= set(ledger_counts(db_url)), timeout=timeout, interval=0.25)


def wait_all_committed(db_url: str, data_dir: Path, names: Sequence[str], timeout: float) -> None:
    """Poll until every name has a ledger row and inbox and processing/ are empty."""
    wanted = set(names)

    def settled() -> bool:
        # A cheap count first: the full check lists folders that may hold 20,000 files.
        if ledger_rows(db_url) < len(wanted):
            return False
        counts = ledger_counts(db_url)
        return (
            all(n in counts for n in wanted)
            and is_empty(data_dir / "inbox")
            and is_empty(data_dir / "processing")
        )

    wait_until(settled, timeout=timeout, interval=0.25)


def assert_exactly_once(t: Tally, *, articles: int | None = None) -> None:
    """The invariant: every bundle one committed outcome, no duplicates, nothing left behind."""
    assert t.lost == 0, t
    assert t.duplicates == 0, t
    assert t.committed == t.dropped, t
    assert t.articles == t.distinct_doc_ids, t  # one row per doc_id
    if articles is not None:
        assert t.articles == articles, t
    assert t.in_inbox == 0, t
    assert t.in_processing == 0, t


def error_report(quarantine: Path, name: str) -> dict[str, Any]:
    """The `<name>.error.json` written next to a quarantined bundle."""
    data: dict[str, Any] = json.loads((quarantine / f"{name}.error.json").read_text())
    return data


# -- the scene -------------------------------------------------------------------------------


@dataclass
class Scene:
    """One fault scenario's world: a data dir, a fresh database, a staging folder, daemons."""

    tmp: Path
    data_dir: Path
    db_url: str
    spawn: Callable[..., FaultDaemon]
    report: Report

    @property
    def inbox(self) -> Path:
        """The daemon's inbox (created on demand, before the daemon makes it)."""
        path = self.data_dir / "inbox"
        path.mkdir(exist_ok=True)
        return path

    @property
    def staging(self) -> Path:
        """A sibling of the inbox on the same file system, where bundles are written first."""
        return self.tmp / "staging"

    def stage(self, count: int, *, tag: str, start: int = 0, small: bool = False) -> list[str]:
        """Write unique bundles into the staging folder; returns their names, sorted."""
        return sorted(write_bundles(self.staging, count, tag=tag, start=start, small=small))

    def drop(self, names: list[str]) -> None:
        """Rename staged bundles into the inbox."""
        rename_into(self.staging, self.inbox, names)
