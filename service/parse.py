"""The core's single entry point: bundle bytes in, a normalized article out."""

from __future__ import annotations

import hashlib

from service.article import Article, ParsedBundle
from service.decode import decode
from service.errors import BundleRejected, ReasonCode
from service.identity import content_hash, simhash
from service.naming import parse_name
from service.normalize import NORMALIZER_VERSION, normalize


def sha256_hex(data: bytes) -> str:
    """The ledger key of a bundle: sha256 of its exact bytes."""
    return hashlib.sha256(data).hexdigest()


def parse_bundle(name: str, data: bytes) -> ParsedBundle:
    """Decode, normalize and fingerprint one bundle, or raise `BundleRejected`."""
    bundle_name = parse_name(name)
    decoded = decode(data)
    try:
        page = normalize(decoded.text)
    except BundleRejected:
        raise
    except Exception as exc:  # a normalizer bug must quarantine one file, not stop the daemon
        raise BundleRejected(
            ReasonCode.PARSE_ERROR, f"normalizer failed: {type(exc).__name__}"
        ) from exc
    article = Article(
        doc_id=bundle_name.doc_id,
        seq=bundle_name.seq,
        title=page.title,
        subtitle=page.subtitle,
        body=page.body,
        authors=page.authors,
        source=page.source,
        published_at=page.published_at,
        section=page.section,
        dateline_place=page.dateline_place,
        url=page.url,
        script=page.script,
        encoding=decoded.encoding,
        flags=page.flags,
        content_hash=content_hash(page.title, page.body),
        simhash=simhash(page.title, page.body),
        normalizer_version=NORMALIZER_VERSION,
    )
    return ParsedBundle(
        name=name,
        raw_sha256=sha256_hex(data),
        size=len(data),
        text=decoded.text,
        encoding=decoded.encoding,
        article=article,
    )
