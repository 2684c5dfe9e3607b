"""Bundle names and in-progress names."""

from __future__ import annotations

import pytest

from service.errors import BundleRejected, ReasonCode
from service.naming import is_in_progress, parse_name

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "seq", "doc_id"),
    [
        ("000_06a9b80f6b53ca95.txt", 0, "06a9b80f6b53ca95"),
        ("1234_ffffffffffffffff.txt", 1234, "ffffffffffffffff"),
    ],
)
def test_valid_names(name: str, seq: int, doc_id: str) -> None:
    parsed = parse_name(name)
    assert (parsed.seq, parsed.doc_id) == (seq, doc_id)


@pytest.mark.parametrize(
    "name",
    [
        "00_06a9b80f6b53ca95.txt",  # seq too short
        "000_06A9B80F6B53CA95.txt",  # upper-case hex
        "000_06a9b80f6b53ca9.txt",  # 15 hex
        "000_06a9b80f6b53ca95.TXT",
        "000_06a9b80f6b53ca95.txt\n",
        "../000_06a9b80f6b53ca95.txt",
        "000_06a9b80f6b53ca95.txt.bak",
        "",
    ],
)
def test_bad_names(name: str) -> None:
    with pytest.raises(BundleRejected) as info:
        parse_name(name)
    assert info.value.reason is ReasonCode.BAD_NAME


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (".000_06a9b80f6b53ca95.txt.Xa9f2", True),  # rsync temp
        ("000_06a9b80f6b53ca95.txt.tmp", True),
        ("000_06a9b80f6b53ca95.txt.part", True),
        ("000_06a9b80f6b53ca95.txt.partial", True),
        ("000_06a9b80f6b53ca95.txt.crdownload", True),
        (".000_06a9b80f6b53ca95.txt.swp", True),
        ("000_06a9b80f6b53ca95.txt~", True),
        ("000_06a9b80f6b53ca95.txt", False),
        ("notes.md", False),  # not in progress: it will be quarantined as bad_name
    ],
)
def test_in_progress_names(name: str, expected: bool) -> None:
    assert is_in_progress(name) is expected
