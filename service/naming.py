"""Bundle names: `<seq>_<doc_id>.txt`, and the names of files still being written."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.errors import BundleRejected, ReasonCode

# fullmatch, not `$`: a `$` also matches before a trailing newline in a hostile name.
BUNDLE_NAME = re.compile(r"(?P<seq>[0-9]{3,})_(?P<doc_id>[0-9a-f]{16})\.txt")

# Names that copy tools and editors use while a file is still being written.
_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")


@dataclass(frozen=True, slots=True)
class BundleName:
    """The parts of a valid bundle file name."""

    name: str
    seq: int
    doc_id: str


def is_in_progress(name: str) -> bool:
    """True for names a producer is still writing (dotfiles, `*.tmp`, `*.part`, ...)."""
    return name.startswith(".") or name.endswith(_IN_PROGRESS_SUFFIXES)


def parse_name(name: str) -> BundleName:
    """Split a bundle name into seq and doc_id, or reject it as `bad_name`."""
    match = BUNDLE_NAME.fullmatch(name)
    if match is None:
        raise BundleRejected(
            ReasonCode.BAD_NAME,
            "file name does not match <seq>_<16 hex doc_id>.txt",
        )
    return BundleName(name=name, seq=int(match["seq"]), doc_id=match["doc_id"])
