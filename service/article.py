"""The values the core produces: a normalized article and the bundle it came from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Article:
    """One normalized news article; the field names are the stable `parse` JSON keys."""

    doc_id: str
    seq: int
    title: str
    subtitle: str | None
    body: str
    authors: tuple[str, ...]
    source: str | None
    published_at: datetime | None
    section: str | None
    dateline_place: str | None
    url: str | None
    script: str
    encoding: str
    flags: tuple[str, ...]
    content_hash: str
    simhash: int
    normalizer_version: str

    def to_json_dict(self) -> dict[str, Any]:
        """The article as the JSON object `newsdrop parse` prints."""
        # Field by field, not asdict(): asdict deep-copies every value (measured 60-100 us).
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["authors"] = list(self.authors)
        data["flags"] = list(self.flags)
        data["published_at"] = self.published_at.isoformat() if self.published_at else None
        return data

    def fields_hash(self) -> str:
        """sha256 over every stored field except `seq`: equal hashes mean nothing to write."""
        data = self.to_json_dict()
        del data["seq"]
        canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ParsedBundle:
    """A bundle after the core has read it: its identity, decoded text and article."""

    name: str
    raw_sha256: str
    size: int
    text: str
    encoding: str
    article: Article
    fields_hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields_hash", self.article.fields_hash())

    def with_text(self, text: str) -> ParsedBundle:
        """The same bundle holding `text` as its decoded text (fields_hash is not recomputed)."""
        copy = object.__new__(ParsedBundle)
        for name in _BUNDLE_FIELDS:
            object.__setattr__(copy, name, getattr(self, name))
        object.__setattr__(copy, "text", text)
        return copy


_BUNDLE_FIELDS = tuple(f.name for f in fields(ParsedBundle))
