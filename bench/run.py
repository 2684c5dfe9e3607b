"""newsdrop benchmark: the real daemon as a subprocess against a real PostgreSQL.

    python bench/run.py --database-url postgresql://postgres@127.0.0.1:5432/test --n 20000
    python bench/run.py --smoke          # tiny sizes, for CI (< 60 s)
    python bench/run.py --rounds 3       # everything three times: each figure's median round

Every figure is printed next to a baseline measured in the same run (the machine is shared,
absolute numbers drift): parse alone in one process and a naive read/parse/INSERT/COMMIT/
rename loop for throughput, a 1 s polling daemon for latency, the backlog rate for the burst,
the small backlog for memory and the first load for the replay. A fixed sample parsed before
and after each of them shows how far the machine's speed moved between a figure and its
baseline. A JSON copy of the results goes to bench/results/ (git-ignored). Each scenario gets
a fresh database (dropped after) and a fresh data directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import corpus
import psutil
import psycopg

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Bundles in the speed probe: 0.2-0.3 s of parsing on these machines.
PROBE_FILES = 200


# -- database and daemon plumbing ----------------------------------------------------------


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` on the same server."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


def as_url(url: str, name: str) -> str:
    """A postgresql:// URL for database `name` (the daemon wants a URL, not a conninfo)."""
    from sqlalchemy.engine import make_url

    return (
        make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
        .set(database=name)
        .render_as_string(hide_password=False)
        .replace("postgresql+psycopg://", "postgresql://", 1)
    )


@contextlib.contextmanager
def fresh_database(
    admin_url: str, *, migrate: bool = True, prefix: str = "newsdrop_bench"
) -> Iterator[str]:
    """A new database (migrated to head) for one scenario, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = as_url(admin_url, name)
        if migrate:
            # As `newsdrop db upgrade` would before a deployment: schema work is not timed.
            from service.store import Store, create_db_engine

            engine = create_db_engine(url)
            try:
                Store(engine).migrate()
            finally:
                engine.dispose()
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RssSampler(threading.Thread):
    """Samples the summed RSS and CPU time of a process tree (main + parser workers)."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.root = psutil.Process(pid)
        self.every = every
        self.peak = 0
        self.peak_main = 0
        self.cpu: dict[int, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            with contextlib.suppress(psutil.Error):
                procs = [self.root, *self.root.children(recursive=True)]
                total = 0
                for proc in procs:
                    with contextlib.suppress(psutil.Error):
                        rss = proc.memory_info().rss
                        total += rss
                        if proc.pid == self.root.pid:
                            self.peak_main = max(self.peak_main, rss)
                        times = proc.cpu_times()
                        self.cpu[proc.pid] = times.user + times.system
                self.peak = max(self.peak, total)
            self.halt.wait(self.every)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)


class Daemon:
    """`python -m service run` with NEWSDROP_* settings; JSON log lines go to a file."""

    def __init__(self, data_dir: Path, database_url: str, **settings: Any) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{data_dir.name}-{uuid.uuid4().hex[:6]}.log"
        self.env = {
            **os.environ,
            "NEWSDROP_DATABASE_URL": database_url,
            "NEWSDROP_DATA_DIR": str(data_dir),
            "NEWSDROP_HTTP_PORT": "0",
            "NEWSDROP_LOG_FORMAT": "json",
            "NEWSDROP_SECRETS_DIR": str(data_dir / "no-secrets"),
            "NEWSDROP_CONFIG": str(data_dir / "no-config.env"),
        }
        self.env.update({f"NEWSDROP_{k.upper()}": str(v) for k, v in settings.items()})
        self.proc: subprocess.Popen[bytes] | None = None
        self.sampler: RssSampler | None = None
        self.spawned_at = 0.0
        self.started_at = 0.0
        self.profile: Path | None = None
        self.profiler: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> Daemon:
        """Start the daemon and wait for its `daemon.started` line; sample its memory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.spawned_at = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "run"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=self.data_dir.parent,
        )
        log.close()
        self.sampler = RssSampler(self.proc.pid)
        self.sampler.start()
        if self.profile is not None:
            # py-spy samples main and parser processes; collapsed stacks, one file per run.
            self.profiler = subprocess.Popen(
                [
                    shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(self.proc.pid),
                    "--subprocesses",
                    # Not pausing the daemon to sample keeps its timing; one stack per thread
                    # tells the loop, the writer and the inotify reader apart. Only the thread
                    # holding the GIL is sampled: without --gil, a thread waiting for it after
                    # a system call showed as busy on that call's line.
                    "--nonblocking",
                    "--gil",
                    "--threads",
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--output",
                    str(self.profile),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = self.events("daemon.started")
            if started:
                self.started_at = _log_time(started[0])
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"daemon did not start:\n{self.tail()}")

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON log line so far."""
        out = []
        with contextlib.suppress(FileNotFoundError), self.log_path.open("rb") as f:
            for raw in f:
                with contextlib.suppress(ValueError):
                    out.append(json.loads(raw))
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log lines with this event name."""
        return [line for line in self.lines() if line.get("event") == name]

    def tail(self, n: int = 20) -> str:
        """The last log lines (for error messages)."""
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-n:])
        return ""

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        if self.sampler is not None:
            self.sampler.stop()
        if self.profiler is not None:
            self.profiler.wait(timeout=60)
        return code

    def kill(self) -> None:
        """SIGKILL (cleanup after a failure)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sampler is not None:
            self.sampler.stop()

    @property
    def peak_rss(self) -> int:
        """Peak summed RSS of the process tree, bytes."""
        return self.sampler.peak if self.sampler else 0

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the process tree used, as last sampled."""
        return sum(self.sampler.cpu.values()) if self.sampler else 0.0

    def cpu_split(self) -> dict[str, float]:
        """CPU seconds of the main process and of the parser workers, as last sampled."""
        if self.sampler is None or self.proc is None:
            return {}
        main = self.sampler.cpu.get(self.proc.pid, 0.0)
        return {"main": main, "workers": self.cpu_seconds - main}


def backend_cpu(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to `url`'s database."""
    total = 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def _log_time(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()


def candidates(folder: Path) -> int:
    """Files waiting in `folder` (dot names excluded)."""
    with os.scandir(folder) as entries:
        return sum(1 for e in entries if not e.name.startswith(".") and e.is_file())


def count_files(folder: Path) -> int:
    """Files below `folder`, recursively."""
    total = 0
    for _root, _dirs, files in os.walk(folder):
        total += len(files)
    return total


def _count_ledger(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM ingest_ledger").fetchone()
    return int(row[0]) if row else 0


def ledger_rows(url: str) -> int:
    """Rows in the ingest ledger now (what a run on the same database starts from)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return _count_ledger(conn)


@dataclass
class Done:
    """When a run finished and what the ledger says."""

    finished_at: float
    first_commit: float
    last_commit: float
    outcomes: dict[str, int] = field(default_factory=dict)


def wait_done(
    url: str, expected: int, data_dir: Path, timeout: float, daemon: Daemon | None = None
) -> Done:
    """Poll until `expected` ledger rows are committed and every file has left the inbox."""
    inbox, processing = data_dir / "inbox", data_dir / "processing"
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            count = _count_ledger(conn)
            if count >= expected and candidates(processing) == 0 and candidates(inbox) == 0:
                finished = time.time()
                break
            if daemon is not None and daemon.proc is not None and daemon.proc.poll() is not None:
                raise RuntimeError(f"daemon exited early:\n{daemon.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"timed out: {count}/{expected} committed, {candidates(inbox)} in inbox, "
                    f"{candidates(processing)} in processing"
                )
            time.sleep(0.05)
        first, last = conn.execute(
            "SELECT extract(epoch FROM min(committed_at)), extract(epoch FROM max(committed_at)) "
            "FROM ingest_ledger"
        ).fetchone() or (0, 0)
        outcomes = dict(
            conn.execute("SELECT outcome, count(*) FROM ingest_ledger GROUP BY outcome").fetchall()
        )
    return Done(finished, float(first), float(last), {k: int(v) for k, v in outcomes.items()})


# -- baselines in this process ---------------------------------------------------------------


def parse_alone(source: Path, names: list[str]) -> dict[str, Any]:
    """service.parse.parse_bundle over the files, in a loop, in this one process."""
    from service.errors import BundleRejected
    from service.parse import parse_bundle

    rejected = 0
    started = time.perf_counter()
    for name in names:
        try:
            parse_bundle(name, (source / name).read_bytes())
        except BundleRejected:
            rejected += 1
    elapsed = time.perf_counter() - started
    return {
        "files": len(names),
        "seconds": elapsed,
        "rate": len(names) / elapsed,
        "rejected": rejected,
    }


class SpeedProbe:
    """The machine's own speed now: a fixed sample of bundles parsed in this process.

    Taken before and after every scenario and baseline. These hosts are shared and their speed
    wanders: the same pure-Python loop took 2.5 to 4.3 s within five minutes on one of them.
    A ratio whose figure and baseline ran at different speeds is shown with that factor.
    """

    def __init__(self, source: Path, names: list[str]) -> None:
        self.source, self.names = source, names
        self()  # the first parse in a process also loads dictionaries and compiles patterns

    def __call__(self) -> float:
        """Sample bundles parsed per second: the parse-alone baseline, on the sample."""
        return float(parse_alone(self.source, self.names)["rate"])


def probed(probe: Callable[[], float], scenario: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `scenario` between two speed probes; its result gains `machine_speed` [before, after]."""
    before = probe()
    result = scenario()
    result["machine_speed"] = [before, probe()]
    return result


def naive_loop(admin_url: str, source: Path, names: list[str], work: Path) -> dict[str, Any]:
    """Per file: read, parse, INSERT the article row, COMMIT, rename; one process."""
    from service.errors import BundleRejected
    from service.parse import parse_bundle
    from service.store import ARTICLE_COLUMNS, simhash_bands, to_signed64

    columns = ("doc_id", "raw_sha256", "version", *ARTICLE_COLUMNS)
    columns += tuple(f"sim_band_{band}" for band in range(4))
    inbox, done = work / "naive-inbox", work / "naive-done"
    inbox.mkdir(parents=True)
    done.mkdir()
    for name in names:
        os.link(source / name, inbox / name)
    with fresh_database(admin_url) as url:
        placeholders = ", ".join(f"%({c})s" for c in columns)
        insert = (
            f"INSERT INTO naive_articles ({', '.join(columns)}) VALUES ({placeholders}) "
            "ON CONFLICT (doc_id) DO NOTHING"
        )
        with psycopg.connect(url) as conn:
            # Same columns, indexes and lz4 compression as `articles`, without the foreign keys.
            conn.execute("CREATE TABLE naive_articles (LIKE articles INCLUDING ALL)")
            conn.commit()
            started = time.perf_counter()
            for name in names:
                path = inbox / name
                data = path.read_bytes()
                try:
                    bundle = parse_bundle(name, data)
                except BundleRejected:
                    os.rename(path, done / name)
                    continue
                a = bundle.article
                row = {c: getattr(a, c, None) for c in columns}
                row.update(
                    raw_sha256=bundle.raw_sha256,
                    version=1,
                    authors=list(a.authors),
                    flags=list(a.flags),
                    simhash=to_signed64(a.simhash),
                    fields_hash=bundle.fields_hash,
                )
                row.update({f"sim_band_{i}": b for i, b in enumerate(simhash_bands(a.simhash))})
                conn.execute(insert, row)
                conn.commit()
                os.rename(path, done / name)
            elapsed = time.perf_counter() - started
    shutil.rmtree(inbox, ignore_errors=True)
    shutil.rmtree(done, ignore_errors=True)
    return {"files": len(names), "seconds": elapsed, "rate": len(names) / elapsed}


# -- scenarios ------------------------------------------------------------------------------


@dataclass
class Bench:
    """Shared state of one benchmark run."""

    admin_url: str
    work: Path
    settings: dict[str, Any]
    log: Callable[[str], None]
    profile: Path | None = None
    keep: bool = False  # keep the daemons' logs (in the work dir) for a look afterwards

    def data_dir(self, label: str) -> Path:
        return self.work / f"data-{label}"

    def start_daemon(self, data_dir: Path, url: str, profile_as: str) -> Daemon:
        """A daemon with the run's settings, started; py-spied into `profile_as` if profiling."""
        daemon = Daemon(data_dir, url, **self.settings)
        if self.profile is not None:
            daemon.profile = self.profile / profile_as
        return daemon.start()

    def done_with(self, daemon: Daemon) -> None:
        """Delete a finished daemon's log unless asked to keep it."""
        if not self.keep:
            daemon.log_path.unlink(missing_ok=True)


def _system_busy() -> Callable[[], float]:
    """Returns a function giving the share of all CPUs busy since this call."""
    before = psutil.cpu_times()

    def share() -> float:
        after = psutil.cpu_times()
        busy = sum(after) - after.idle - (sum(before) - before.idle)
        total = sum(after) - sum(before)
        return busy / total if total > 0 else 0.0

    return share


def backlog_run(
    bench: Bench, source: Path, names: list[str], label: str, url: str, *, again: bool = False
) -> dict[str, Any]:
    """`names` copied into the inbox before the daemon starts; time until committed + moved."""
    data_dir = bench.data_dir(label)
    expected_before = ledger_rows(url) if again else 0
    corpus.copy_into(source, names, data_dir / "inbox")
    os.sync()
    busy = _system_busy()
    daemon = bench.start_daemon(data_dir, url, f"{label}{'-again' if again else ''}.txt")
    try:
        done = wait_done(
            url,
            expected_before + len(names),
            data_dir,
            timeout=120 + len(names) / 50,
            daemon=daemon,
        )
        cpu_share = busy()
        cpu = daemon.cpu_seconds
        split = daemon.cpu_split()
        split["postgres"] = backend_cpu(url)
        code = daemon.stop()
    except BaseException:
        daemon.kill()
        raise
    processed = count_files(data_dir / "processed")
    quarantined = count_files(data_dir / "quarantine")
    seconds = done.finished_at - daemon.started_at
    steady = done.finished_at - (
        done.first_commit if not again else _first_after(url, expected_before)
    )
    result = {
        "files": len(names),
        "seconds": seconds,
        "rate": len(names) / seconds,
        "startup_seconds": daemon.started_at - daemon.spawned_at,
        "first_commit_after_start": (
            done.first_commit if not again else _first_after(url, expected_before)
        )
        - daemon.started_at,
        "rate_after_first_commit": len(names) / steady if steady > 0 else None,
        "peak_rss_mb": daemon.peak_rss / 2**20,
        "peak_rss_main_mb": (daemon.sampler.peak_main if daemon.sampler else 0) / 2**20,
        "daemon_cpu_seconds": cpu,
        "cpu_seconds": split,
        "cpu_us_per_file": {k: 1e6 * v / len(names) for k, v in split.items()},
        "system_cpu_busy": cpu_share,
        "outcomes": done.outcomes,
        "processed_files": processed - (expected_before if again else 0),
        "quarantined_files": quarantined,
        "exit_code": code,
        "missed": len(names) - (sum(done.outcomes.values()) - expected_before),
        "errors": [ln for ln in daemon.lines() if ln.get("level") in ("error", "critical")][:5],
    }
    bench.done_with(daemon)
    return result


def _first_after(url: str, skip: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM min(committed_at)) FROM "
            "(SELECT committed_at FROM ingest_ledger ORDER BY id OFFSET %s) t",
            (skip,),
        ).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def latency_run(
    bench: Bench, source: Path, names: list[str], label: str, rate: float, **extra: Any
) -> dict[str, Any]:
    """Rename bundles into a running daemon's inbox at `rate`/s; rename -> COMMIT latency."""
    data_dir = bench.data_dir(label)
    staging = data_dir / "staging"
    corpus.copy_into(source, names, staging)
    with fresh_database(bench.admin_url) as url:
        daemon = Daemon(data_dir, url, **{**bench.settings, **extra}).start()
        try:
            time.sleep(0.5)  # let the start-up scan finish; the inbox is empty
            renamed: dict[str, float] = {}
            inbox = data_dir / "inbox"
            started = time.monotonic()
            for i, name in enumerate(names):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                os.rename(staging / name, inbox / name)
                renamed[name] = time.time()
            wait_done(url, len(names), data_dir, timeout=60 + len(names) / 10, daemon=daemon)
            code = daemon.stop()
        except BaseException:
            daemon.kill()
            raise
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT name, extract(epoch FROM committed_at) FROM ingest_ledger"
            ).fetchall()
    latencies = sorted((float(at) - renamed[name]) * 1000 for name, at in rows if name in renamed)
    bench.done_with(daemon)
    return {
        "files": len(names),
        "rate": rate,
        "p50_ms": _quantile(latencies, 0.50),
        "p99_ms": _quantile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else None,
        "mean_ms": statistics.fmean(latencies) if latencies else None,
        "missed": len(names) - len(latencies),
        "exit_code": code,
    }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def renamed_in_run(
    bench: Bench, source: Path, names: list[str], label: str, url: str
) -> dict[str, Any]:
    """Rename bundles in as fast as possible while the daemon runs; time until all are done."""
    data_dir = bench.data_dir(label)
    staging = data_dir / "staging"
    corpus.copy_into(source, names, staging)
    os.sync()
    expected_before = ledger_rows(url)
    processed_before = count_files(data_dir / "processed")
    daemon = bench.start_daemon(data_dir, url, f"{label}-renamed-in.txt")
    try:
        time.sleep(0.5)
        inbox = data_dir / "inbox"
        started = time.time()
        for name in names:
            os.rename(staging / name, inbox / name)
        renamed_for = time.time() - started
        done = wait_done(
            url,
            expected_before + len(names),
            data_dir,
            timeout=120 + len(names) / 20,
            daemon=daemon,
        )
        code = daemon.stop()
    except BaseException:
        daemon.kill()
        raise
    lines = daemon.lines()
    bench.done_with(daemon)
    seconds = done.finished_at - started
    return {
        "files": len(names),
        "seconds": seconds,
        "rate": len(names) / seconds,
        "rename_seconds": renamed_for,
        "outcomes": done.outcomes,
        "missed": len(names) - (sum(done.outcomes.values()) - expected_before),
        "processed_files": count_files(data_dir / "processed") - processed_before,
        "overflows": sum(1 for ln in lines if ln.get("event") == "inbox.overflow_detected"),
        "events_missed": sum(
            int(ln.get("files", 0)) for ln in lines if ln.get("event") == "inbox.events_missed"
        ),
        "exit_code": code,
    }


def burst_run(bench: Bench, source: Path, names: list[str]) -> dict[str, Any]:
    """The burst into a fresh database: every bundle new, renamed in while the daemon runs."""
    with fresh_database(bench.admin_url) as url:
        return renamed_in_run(bench, source, names, "burst", url)


# -- report ----------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: float | None
    unit: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    spread: str = ""  # over the rounds: lowest to highest ratio (or value)
    met_in: str = ""  # rounds that met the target, of those measured
    # The machine's speed while the figure ran over its speed while the baseline ran.
    speed: float | None = None


def median_rows(rounds: list[list[Row]]) -> list[Row]:
    """One row per figure, taken whole from the round with the median ratio (or value).

    A figure and its baseline always come from the same round, so the ratio shown is one that
    was measured; the spread and the count of rounds that met the target say how far to trust
    it. A target counts as met when most rounds met it.
    """
    merged = []
    for versions in zip(*rounds, strict=True):
        by_ratio = versions[0].ratio is not None
        measured = sorted(
            (r for r in versions if (r.ratio if by_ratio else r.value) is not None),
            key=lambda r: (r.ratio if by_ratio else r.value) or 0.0,
        )
        if not measured:
            merged.append(versions[0])
            continue
        middle = measured[(len(measured) - 1) // 2]
        low, high = measured[0], measured[-1]
        spread = (
            f"{low.ratio:.2f}-{high.ratio:.2f}x"
            if by_ratio
            else f"{_fmt_value(low.value)}-{_fmt_value(high.value)}"
        )
        votes = [r.met for r in versions if r.met is not None]
        met = sum(votes) * 2 > len(votes) if votes else None
        merged.append(
            replace(
                middle,
                met=met,
                spread=spread,
                met_in=f"{sum(votes)}/{len(votes)}" if votes else "",
            )
        )
    return merged


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _fmt_value(value: float | None) -> str:
    """A table value: one decimal below 100, none above."""
    return _fmt(value, 1 if (value or 0) < 100 else 0)


def print_table(rows: list[Row]) -> None:
    rounds = any(r.spread for r in rows)
    speeds = any(r.speed is not None for r in rows)
    header: tuple[str, ...] = ("figure", "value", "baseline", "ratio", "target", "met")
    header += ("machine speed",) if speeds else ()
    header += ("rounds: spread", "met in") if rounds else ()
    table = [
        (
            r.figure,
            f"{_fmt_value(r.value)} {r.unit}",
            r.baseline,
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            r.target,
            "-" if r.met is None else ("yes" if r.met else "NO"),
            *(("" if r.speed is None else f"{r.speed:.2f}",) if speeds else ()),
            *((r.spread, r.met_in) if rounds else ()),
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *table, strict=False)]
    for line in (header, tuple("-" * w for w in widths), *table):
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))
    if speeds:
        print("machine speed: a fixed sample's parse rate around the figure over the same around")
        print("its baseline (1.00: the same speed; ratios and verdicts are as measured)")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def machine_speed(run: dict[str, Any], baseline: dict[str, Any] | None) -> float | None:
    """The probes' speed around `run` over their speed around `baseline` (1.0: the same)."""
    ours, theirs = run.get("machine_speed"), (baseline or {}).get("machine_speed")
    if not ours or not theirs:
        return None
    return statistics.fmean(ours) / statistics.fmean(theirs)


def _cpu_row(label: str, run: dict[str, Any]) -> Row:
    cpu = run.get("cpu_us_per_file", {})
    split = ", ".join(f"{k} {v:,.0f}" for k, v in cpu.items())
    return Row(label, sum(cpu.values()) or None, "us", split)


def _replay_row(label: str, run: dict[str, Any], first: dict[str, Any], t: bool) -> Row:
    first_load = first.get("rate")
    ratio = _ratio(run["rate"], first_load)
    return Row(
        label,
        run["rate"],
        "files/s",
        f"first load {_fmt(first_load)}/s",
        ratio,
        ">= 5x",
        (ratio or 0) >= 5 if t and ratio else None,
        speed=machine_speed(run, first),
    )


def build_rows(r: dict[str, Any], targets: bool) -> list[Row]:
    rows: list[Row] = []
    t = targets
    if "backlog" in r:
        b = r["backlog"]
        rows.append(
            Row(
                "backlog rate (daemon.started -> all moved)",
                b["rate"],
                "files/s",
                "",
                None,
                ">= 1,000/s",
                b["rate"] >= 1000 if t else None,
            )
        )
        naive = r.get("naive", {}).get("rate")
        ratio = _ratio(b["rate"], naive)
        rows.append(
            Row(
                "  vs naive loop",
                b["rate"],
                "files/s",
                f"{_fmt(naive)}/s",
                ratio,
                ">= 2.5x",
                (ratio or 0) >= 2.5 if t and ratio else None,
                speed=machine_speed(b, r.get("naive")),
            )
        )
        alone = r.get("parse_alone", {}).get("rate")
        ratio = _ratio(b["rate"], alone)
        rows.append(
            Row(
                "  vs parse alone (1 process)",
                b["rate"],
                "files/s",
                f"{_fmt(alone)}/s",
                ratio,
                ">= 1.0x",
                (ratio or 0) >= 1.0 if t and ratio else None,
                speed=machine_speed(b, r.get("parse_alone")),
            )
        )
        rows.append(
            Row(
                "  rate after the first commit",
                b["rate_after_first_commit"],
                "files/s",
                f"first commit +{b['first_commit_after_start']:.2f}s",
            )
        )
        rows.append(Row("  system CPU busy during backlog", 100 * b["system_cpu_busy"], "%"))
        rows.append(_cpu_row("  CPU per bundle (daemon tree + backends)", b))
    if "latency" in r:
        lat, poll = r["latency"], r.get("latency_polling", {})
        for key, target, limit in (
            ("p50_ms", "<= 50 ms", 50),
            ("p99_ms", "<= 250 ms", 250),
            ("max_ms", "", None),
        ):
            base = poll.get(key)
            rows.append(
                Row(
                    f"latency {key[:-3]} at {lat['rate']:.0f}/s (inotify)",
                    lat[key],
                    "ms",
                    f"1 s polling {_fmt(base)} ms",
                    _ratio(lat[key], base),
                    target,
                    (lat[key] or 1e9) <= limit if t and limit else None,
                    speed=machine_speed(lat, poll),
                )
            )
    if "burst" in r:
        bu = r["burst"]
        base = r.get("backlog", {}).get("rate")
        ratio = _ratio(bu["rate"], base)
        rows.append(
            Row(
                "burst rate (renamed in at full speed)",
                bu["rate"],
                "files/s",
                f"backlog {_fmt(base)}/s",
                ratio,
                ">= 0.8x, none missed",
                (ratio or 0) >= 0.8 and bu["missed"] == 0 if t and ratio else None,
                speed=machine_speed(bu, r.get("backlog")),
            )
        )
        rows.append(
            Row("  burst files missed", bu["missed"], "files", "", None, "0", bu["missed"] == 0)
        )
    if "memory" in r:
        m = r["memory"]
        small, large = m["small"], m["large"]
        ratio = _ratio(large["peak_rss_mb"], small["peak_rss_mb"])
        rows.append(
            Row(
                f"peak RSS, {large['files']:,} backlog",
                large["peak_rss_mb"],
                "MB",
                f"{small['files']:,}: {small['peak_rss_mb']:.0f} MB",
                ratio,
                "<= 1.2x and < 250 MB",
                (ratio or 9) <= 1.2 and large["peak_rss_mb"] < 250 if t else None,
            )
        )
    first_load_run = r.get("backlog", {})
    if "replay" in r:
        rp = r["replay"]
        rows.append(_replay_row("replay found at start-up (all unchanged)", rp, first_load_run, t))
        rows.append(
            Row(
                "  replay rate after the first commit",
                rp["rate_after_first_commit"],
                "files/s",
                f"first commit +{rp['first_commit_after_start']:.2f}s",
            )
        )
        rows.append(_cpu_row("  CPU per bundle (daemon tree + backends)", rp))
    if "replay_live" in r:
        live = r["replay_live"]
        rows.append(_replay_row("replay renamed in while running", live, first_load_run, t))
        rows.append(
            Row(
                "  replay files missed", live["missed"], "files", "", None, "0", live["missed"] == 0
            )
        )
    return rows


# -- main -------------------------------------------------------------------------------------


def run_round(
    args: argparse.Namespace,
    bench: Bench,
    source: Path,
    all_names: list[str],
    probe: Callable[[], float],
) -> dict[str, Any]:
    """Every chosen scenario once, each with its baselines and speed probes; their results."""
    names = all_names[: args.n]
    scenarios = set(args.only.split(","))
    small_n, large_n = _memory_sizes(args)
    results: dict[str, Any] = {}

    def measure(key: str, message: str, scenario: Callable[[], dict[str, Any]]) -> None:
        bench.log(message)
        results[key] = probed(probe, scenario)

    if scenarios & {"backlog", "replay"}:
        if not args.no_baselines:
            measure(
                "parse_alone",
                f"parse alone, one process, {len(names):,} files",
                lambda: parse_alone(source, names),
            )
            measure(
                "naive",
                f"naive loop, {len(names):,} files",
                lambda: naive_loop(args.database_url, source, names, bench.work),
            )
        with fresh_database(args.database_url) as url:
            measure(
                "backlog",
                f"backlog of {len(names):,}",
                lambda: backlog_run(bench, source, names, "backlog", url),
            )
            if "replay" in scenarios:
                measure(
                    "replay",
                    f"replay of the same {len(names):,} (new inodes, same bytes)",
                    lambda: backlog_run(bench, source, names, "backlog", url, again=True),
                )
                measure(
                    "replay_live",
                    f"replay of the same {len(names):,}, renamed into the running daemon",
                    lambda: renamed_in_run(bench, source, names, "backlog", url),
                )
        shutil.rmtree(bench.data_dir("backlog"), ignore_errors=True)
    if "latency" in scenarios:
        m = max(1, int(args.latency_seconds * args.latency_rate))
        measure(
            "latency",
            f"latency: {m} files at {args.latency_rate}/s (inotify)",
            lambda: latency_run(bench, source, all_names[:m], "latency", args.latency_rate),
        )
        measure(
            "latency_polling",
            "latency baseline: the same with 1 s polling",
            lambda: latency_run(
                bench,
                source,
                all_names[:m],
                "latency-poll",
                args.latency_rate,
                watch_mode="polling",
                poll_seconds=1.0,
            ),
        )
    if "burst" in scenarios:
        measure(
            "burst",
            f"burst of {args.burst_n:,}",
            lambda: burst_run(bench, source, all_names[: args.burst_n]),
        )
    if "memory" in scenarios:
        memory = {}
        for key, n in (("small", small_n), ("large", large_n)):
            bench.log(f"memory: backlog of {n:,}")
            with fresh_database(args.database_url) as url:
                memory[key] = backlog_run(bench, source, all_names[:n], f"mem-{n}", url)
            shutil.rmtree(bench.data_dir(f"mem-{n}"), ignore_errors=True)
        results["memory"] = memory
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("NEWSDROP_BENCH_DATABASE_URL", DEFAULT_URL),
        help="superuser URL of a PostgreSQL server (databases are created and dropped)",
    )
    parser.add_argument("--n", type=int, default=20_000, help="backlog and replay size")
    parser.add_argument("--burst-n", type=int, default=10_000)
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--latency-rate", type=float, default=20.0)
    parser.add_argument("--memory-n", default="5000,50000", help="small,large backlog sizes")
    parser.add_argument(
        "--only",
        default="backlog,replay,latency,burst,memory",
        help="comma-separated scenarios to run",
    )
    parser.add_argument(
        "--settle-seconds", type=float, help="NEWSDROP_SETTLE_SECONDS (default: the daemon's)"
    )
    parser.add_argument("--workers", type=int, help="NEWSDROP_WORKERS (default: one per core)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes for CI; checks completion only"
    )
    parser.add_argument("--work-dir", type=Path, help="where data dirs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir and logs")
    parser.add_argument(
        "--profile", type=Path, help="py-spy the backlog, replay and burst daemons into this folder"
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip parse-alone and naive")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run everything this many times and report each figure's median round (odd: 3)",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON results file (default: bench/results/<time>.json)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.burst_n, args.latency_seconds = 300, 300, 2.0
        args.memory_n = "100,400"
        if args.settle_seconds is None:
            args.settle_seconds = 0.5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    scenarios = set(args.only.split(","))
    _, large_n = _memory_sizes(args)
    settings: dict[str, Any] = {}
    if args.settle_seconds is not None:
        settings["settle_seconds"] = args.settle_seconds
    if args.workers is not None:
        settings["workers"] = args.workers

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="newsdrop-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    bench = Bench(args.database_url, work, settings, log, args.profile, args.keep)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
        "git": _git_head(),
        "normalizer_version": _normalizer_version(),
    }
    try:
        source = work / "corpus"
        n_needed = max(args.n, args.burst_n, int(args.latency_seconds * args.latency_rate))
        if "memory" in scenarios:
            n_needed = max(n_needed, large_n)
        log(f"generating {n_needed:,} bundles")
        all_names = corpus.generate(source, n_needed)
        names = all_names[: args.n]
        sizes = [(source / n).stat().st_size for n in names]
        results["corpus"] = {
            "files": len(names),
            "mean_bytes": statistics.fmean(sizes),
            "min_bytes": min(sizes),
            "max_bytes": max(sizes),
        }

        probe = SpeedProbe(source, names[:PROBE_FILES])
        rounds: list[dict[str, Any]] = []
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                log(f"round {number} of {args.rounds}")
                if args.profile is not None:
                    bench.profile = args.profile / f"round-{number}"
                    bench.profile.mkdir(parents=True, exist_ok=True)
            rounds.append(run_round(args, bench, source, all_names, probe))
        results["rounds"] = rounds
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    per_round = [build_rows(r, targets=not args.smoke) for r in rounds]
    rows = per_round[0] if len(per_round) == 1 else median_rows(per_round)
    results["table"] = [vars(r) for r in rows]
    missed = sum(_missed(r) for r in rounds)
    results["missed_total"] = missed
    print_table(rows)
    print(f"bundles missed: {missed}; normalizer {results['normalizer_version']}")
    out = args.out or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results: {out}")
    return 1 if missed else 0


def _memory_sizes(args: argparse.Namespace) -> tuple[int, int]:
    small, large = sorted(int(x) for x in args.memory_n.split(","))
    return small, large


def _missed(results: dict[str, Any]) -> int:
    return sum(
        int(v.get("missed", 0))
        for v in [
            *(results.get(k, {}) for k in ("backlog", "replay", "replay_live", "latency", "burst")),
            *results.get("memory", {}).values(),
        ]
    )


def _normalizer_version() -> str | None:
    with contextlib.suppress(Exception):
        from service.normalize import NORMALIZER_VERSION

        return str(NORMALIZER_VERSION)
    return None


def _git_head() -> str | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return None


if __name__ == "__main__":
    sys.exit(main())
