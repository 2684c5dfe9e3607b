"""decode(): strict UTF-8, else GB18030 or Big5 by plausibility; empty, binary, undecodable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.article import ParsedBundle
from service.decode import common_share, decode, text_of
from service.errors import BundleRejected, ReasonCode
from service.parse import parse_bundle
from service.pool import made_whole, parse_job

pytestmark = pytest.mark.unit

SIMPLIFIED = "徐州高层次人才“云创荟”探索招才引智新路径。活动现场,各县区人才办同志通过网络积极交流。"
TRADITIONAL = (
    "港鐵新線將於本周日正式通車,沿線居民往返市區的車程可縮短約二十分鐘。港鐵公司表示歡迎。"
)


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (SIMPLIFIED.encode("utf-8"), SIMPLIFIED, "utf-8"),
        (b"\xef\xbb\xbf" + SIMPLIFIED.encode("utf-8"), SIMPLIFIED, "utf-8-sig"),
        (SIMPLIFIED.encode("gbk"), SIMPLIFIED, "gb18030"),
        (SIMPLIFIED.encode("gb18030"), SIMPLIFIED, "gb18030"),
        (TRADITIONAL.encode("big5"), TRADITIONAL, "big5"),
        (TRADITIONAL.encode("gb18030"), TRADITIONAL, "gb18030"),
        (b"plain ascii\r\nline two\r", "plain ascii\r\nline two\r", "utf-8"),
        ("一\r\n二\r三\n".encode("gbk"), "一\r\n二\r三\n", "gb18030"),
    ],
)
def test_decode(data: bytes, text: str, encoding: str) -> None:
    decoded = decode(data)
    assert decoded.text == text
    assert decoded.encoding == encoding
    assert text_of(data, decoded.encoding) == text


_CODECS = ["utf-8", "utf-8-sig", "gb18030", "big5", "gbk"]


@given(
    st.one_of(
        st.binary(max_size=64),
        st.tuples(st.text(max_size=40), st.sampled_from(_CODECS)).map(
            lambda pair: pair[0].encode(pair[1], "ignore")
        ),
    )
)
def test_the_text_comes_back_from_the_bytes_and_the_reported_encoding(data: bytes) -> None:
    try:
        decoded = decode(data)
    except BundleRejected:
        return
    assert text_of(data, decoded.encoding) == decoded.text


def test_big5_that_also_decodes_as_gb18030_is_read_as_big5() -> None:
    data = TRADITIONAL.encode("big5")
    data.decode("gb18030")  # the trap: it decodes, into the wrong characters
    assert decode(data).encoding == "big5"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", ReasonCode.EMPTY),
        (b"   \r\n\t\n", ReasonCode.EMPTY),
        (b"\xef\xbb\xbf", ReasonCode.EMPTY),
        ("\u3000\u3000\n".encode(), ReasonCode.EMPTY),
        (b"text\x00more", ReasonCode.BINARY),
        (b"\x01\x02\x03\x04 mostly control bytes \x05\x06\x07\x08", ReasonCode.BINARY),
        (bytes(range(0x80, 0x100)) * 4 + b"\xff\xff", ReasonCode.UNDECODABLE),
    ],
)
def test_rejects(data: bytes, reason: ReasonCode) -> None:
    with pytest.raises(BundleRejected) as caught:
        decode(data)
    assert caught.value.reason == reason


def test_a_few_control_bytes_are_tolerated() -> None:
    text = "标题\x1b\n" + SIMPLIFIED * 3
    assert decode(text.encode()).text == text


def test_common_share() -> None:
    assert common_share("") == 0.0
    assert common_share(SIMPLIFIED) > 0.95
    assert common_share(TRADITIONAL) > 0.95
    assert common_share(TRADITIONAL.encode("big5").decode("gb18030")) < 0.8


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_a_bundle_sent_without_its_text_is_whole_again_from_its_bytes(encoding: str) -> None:
    name = "001_0123456789abcdef.txt"
    data = f"标题在这里出现了\n\n{SIMPLIFIED}\n".encode(encoding)
    sent = parse_job((name, data))
    assert isinstance(sent, ParsedBundle)
    assert sent.text == ""
    whole = made_whole(sent, data)
    assert whole == parse_bundle(name, data)
    assert whole.fields_hash == parse_bundle(name, data).fields_hash
