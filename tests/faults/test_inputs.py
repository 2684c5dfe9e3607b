"""Hostile input: broken bytes, hostile names, links and special files.

Each bad file ends in quarantine with its reason code in `<name>.error.json` and one ledger
row; nothing is read that must not be, and no raw control character reaches a log line.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from pathlib import Path

import psycopg
import pytest

from service.inbox import display_name
from tests.faults.helpers import (
    FaultDaemon,
    Scene,
    bundle_bytes,
    bundle_name,
    doc_id_of,
    ledger_rows,
    wait_all_committed,
)
from tests.support import SEEDS, folder_files

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

# C0 and C1 controls: none may appear raw in a log line (a terminal would obey them).
_RAW_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def error_reports(quarantine: Path) -> dict[str, dict[str, object]]:
    """Every `*.error.json` in quarantine, keyed by the name it reports."""
    reports = {}
    for path in quarantine.iterdir():
        if path.name.endswith(".error.json"):
            report = json.loads(path.read_text())
            reports[str(report["name"])] = report
    return reports


def bytes_read(daemon: FaultDaemon) -> int:
    """Bytes the daemon's read() calls returned so far (files and sockets alike)."""
    for line in Path(f"/proc/{daemon.pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/<pid>/io")


def assert_logs_safe(daemon: FaultDaemon) -> None:
    """Every log line is one JSON object with no raw control character."""
    for raw in daemon.raw:
        assert not _RAW_CONTROL.search(raw), repr(raw)
        json.loads(raw)


def test_bad_input_gets_its_reason_code_and_safe_logs(scene: Scene) -> None:
    rng = random.Random(4)
    seeds = {p.name: p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))}
    traditional = seeds["000_06a9b80f6b53ca95.txt"]
    simplified = seeds["002_98892994477bb2d1.txt"]

    def name(n: int) -> str:
        return bundle_name(n, doc_id_of("bad", n))

    files: dict[bytes, bytes] = {
        name(1).encode(): b"",
        name(3).encode(): rng.randbytes(4096),
        name(4).encode(): bytes(rng.choice(range(0x80, 0x100)) for _ in range(4096)),
        name(5).encode(): b"\0" * 4096,
        name(6).encode(): bundle_bytes("bad", 6).replace("。".encode(), b"\0", 1),
        name(7).encode(): simplified.encode("gbk"),
        name(8).encode(): traditional.encode("big5", errors="ignore"),
        b"hello.txt": bundle_bytes("bad", 9),
        b"evil\nname.txt": bundle_bytes("bad", 10),
        name(11).encode() + b"\n": bundle_bytes("bad", 11),
        b"\x1b[31mred\x1b[0m.txt": bundle_bytes("bad", 12),
        b"\x9b31mcsi.txt": bundle_bytes("bad", 13),
        "\u009b31mc1.txt".encode(): bundle_bytes("bad", 18),  # a C1 control, valid UTF-8
        b"00014_0123456789abcdef..txt": bundle_bytes("bad", 14),
        b"a" * 251 + b".txt": bundle_bytes("bad", 15),
        "新闻".encode() * 41 + b"x.txt": bundle_bytes("bad", 16),
        b"\xff\xfe-not-utf8.txt": bundle_bytes("bad", 17),
    }
    expected = {
        name(1): {"empty"},
        name(2): {"too_large"},
        name(3): {"binary"},
        name(4): {"binary", "undecodable"},
        name(5): {"binary"},
        name(6): {"binary"},
        **{
            display_name(os.fsdecode(raw)): {"bad_name"}
            for raw in files
            if not re.fullmatch(rb"[0-9]{3,}_[0-9a-f]{16}\.txt", raw)
        },
    }
    decoded = {name(7): "gb18030", name(8): "big5"}  # whatever else, these are articles
    assert all(len(raw) <= 255 for raw in files)

    daemon = scene.spawn(settle_seconds=0.2)
    # A good bundle first: the parser's first use loads its dictionaries (megabytes of reads).
    scene.drop(scene.stage(1, tag="bad"))
    wait_all_committed(scene.db_url, scene.data_dir, [name(0)], timeout=30)
    staging = os.fsencode(scene.staging)
    os.makedirs(staging, exist_ok=True)
    for raw, data in files.items():
        with open(os.path.join(staging, raw), "wb") as out:
            out.write(data)
    subprocess.run(["truncate", "-s", "200M", str(scene.staging / name(2))], check=True)
    read_before = bytes_read(daemon)
    inbox = os.fsencode(scene.inbox)
    for raw in [*files, name(2).encode()]:
        os.rename(os.path.join(staging, raw), os.path.join(inbox, raw))

    everything = [name(0), *expected, *decoded]
    wait_all_committed(scene.db_url, scene.data_dir, everything, timeout=30)
    read = bytes_read(daemon) - read_before
    assert daemon.stop() == 0

    reports = error_reports(scene.data_dir / "quarantine")
    got = {shown: str(report["reason"]) for shown, report in reports.items()}
    with psycopg.connect(scene.db_url) as conn:
        ledger = dict(
            conn.execute("SELECT name, coalesce(reason, outcome) FROM ingest_ledger").fetchall()
        )
        encodings = dict(conn.execute("SELECT doc_id, encoding FROM articles").fetchall())
    scene.report(
        files=len(everything),
        quarantined=len(reports),
        reasons=sorted(set(got.values())),
        bytes_read_while_ingesting=read,
        encodings_decoded=sorted(encodings.values()),
    )
    assert set(got) == set(expected), sorted(set(got) ^ set(expected))
    for shown, reasons in expected.items():
        assert got[shown] in reasons, (shown, got[shown])
        assert ledger[shown] == got[shown]
    # too_large is decided from stat: the 200 MB file was never read (nor even 16 MiB of it).
    assert reports[name(2)]["sha256"] is None
    assert read < 4 << 20, read
    # Encoded Chinese text is decoded, not quarantined.
    for shown, encoding in decoded.items():
        assert ledger[shown] == "inserted"
        assert encodings[shown.split("_")[1][:16]] == encoding
    assert ledger_rows(scene.db_url) == len(everything)
    assert_logs_safe(daemon)


def test_links_and_special_files_are_quarantined_unread(scene: Scene) -> None:
    secret = Path("/etc/passwd")
    marker = "root:"
    assert marker in secret.read_text()
    symlink = bundle_name(1, doc_id_of("links", 1))
    hardlink = bundle_name(2, doc_id_of("links", 2))
    fifo = bundle_name(3, doc_id_of("links", 3))
    daemon = scene.spawn(settle_seconds=0.2)

    # A copy of the secret with a second hard link kept outside: nlink is 2 in the inbox.
    outside = scene.tmp / "outside"
    outside.write_bytes(secret.read_bytes())
    scene.staging.mkdir()
    os.symlink(secret, scene.staging / symlink)
    os.link(outside, scene.staging / hardlink)
    os.mkfifo(scene.staging / fifo)
    scene.drop([symlink, hardlink, fifo])
    names = [symlink, hardlink, fifo]
    wait_all_committed(scene.db_url, scene.data_dir, names, timeout=30)
    assert daemon.stop() == 0

    reports = error_reports(scene.data_dir / "quarantine")
    with psycopg.connect(scene.db_url) as conn:
        in_db = conn.execute(
            "SELECT (SELECT count(*) FROM raw_bundles WHERE text LIKE %(m)s)"
            " + (SELECT count(*) FROM articles WHERE body LIKE %(m)s OR title LIKE %(m)s)"
            " + (SELECT count(*) FROM ingest_ledger WHERE message LIKE %(m)s)",
            {"m": f"%{marker}%"},
        ).fetchone()
    in_logs = [line for line in daemon.raw if marker in line]
    in_reports = [path for path in folder_files(scene.data_dir) if path.name.endswith(".json")]
    scene.report(
        reasons={shown: report["reason"] for shown, report in reports.items()},
        secret_in_db=in_db[0] if in_db else None,
        secret_in_logs=len(in_logs),
    )
    assert {shown: report["reason"] for shown, report in reports.items()} == {
        symlink: "symlink",
        hardlink: "not_regular_file",
        fifo: "not_regular_file",
    }
    assert all(report["sha256"] is None for report in reports.values())
    assert in_db == (0,)
    assert in_logs == []
    assert not [p for p in in_reports if marker in p.read_text()]
    assert (scene.data_dir / "quarantine" / symlink).is_symlink()  # moved, never followed
    assert_logs_safe(daemon)
