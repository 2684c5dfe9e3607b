"""decode(): strict UTF-8, else GB18030 or Big5 by plausibility; empty, binary, undecodable."""

from __future__ import annotations

import pytest

from service.decode import common_share, decode
from service.errors import BundleRejected, ReasonCode

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
