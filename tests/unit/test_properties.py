"""Properties of the core over generated pages: no stray exceptions, idempotence, stable hashes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import opencc
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.errors import BundleRejected, ReasonCode
from service.identity import content_hash
from service.normalize import normalize
from service.parse import parse_bundle

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NAME = "001_0123456789abcdef.txt"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEADERS = [
    "您的位置：首页 > 新闻 > 正文",
    "当前位置:首页 > 社会",
    "首页 | 新闻 | 体育 | 财经 | 娱乐",
    "打开APP",
    "青岛新闻APP",
    "登录",
]
METAS = [
    "2024-03-05 10:20 来源：新华网",
    "记者 张晓明 李文静",
    "撰文|周雨桐",
    "发布时间：2023年9月12日 08:00",
    "◎本报记者 孙立平",
]
FOOTERS = [
    "责任编辑：王五",
    "Copyright © 2024 某某网 版权所有",
    "苏ICP备18039698号-1",
    "相关推荐",
    "上一篇：我市新增三处口袋公园",
    "最新评论",
    "扫描关注微信公众号",
    "联系电话：0000-12345678",
]
EXTRA_FOOTER = (
    "\n\n责任编辑：赵六\n版权所有 © 2024 另一家网站\n相关阅读\n别的新闻标题一\n别的新闻标题二\n"
)


@cache
def _pools() -> tuple[list[str], list[str]]:
    """Titles and prose paragraphs taken from the normalized fixture pages."""
    titles: list[str] = []
    paragraphs: list[str] = []
    for path in sorted((FIXTURES / "seeds").glob("*.txt")) + sorted(
        (FIXTURES / "pages").glob("*.txt")
    ):
        expected_path = path.with_suffix(".json")
        if expected_path.exists() and "error" in json.loads(expected_path.read_text("utf-8")):
            continue
        page = parse_bundle(path.name, path.read_bytes()).article
        titles.append(page.title)
        paragraphs.extend(p for p in page.body.split("\n\n") if p.endswith("。") and len(p) > 20)
    return titles, paragraphs


@st.composite
def pages(draw: st.DrawFn) -> str:
    """A news page: header furniture, title, meta lines, prose, footer furniture."""
    titles, paragraphs = _pools()
    lines = draw(st.lists(st.sampled_from(HEADERS), max_size=3))
    lines.append(draw(st.sampled_from(titles)))
    lines += draw(st.lists(st.sampled_from(METAS), max_size=2))
    lines += draw(st.lists(st.sampled_from(paragraphs), min_size=1, max_size=6))
    lines += draw(st.lists(st.sampled_from(FOOTERS), max_size=3))
    indent = draw(st.sampled_from(["", "\u3000\u3000", "\u00a0\u00a0", "  "]))
    separator = draw(st.sampled_from(["\n", "\n\n", "\r\n", "\n \n"]))
    return separator.join(indent + line for line in lines)


def _parse_or_reject(data: bytes) -> None:
    """parse_bundle may reject a bundle, but a normalizer crash (parse_error) is a bug."""
    reason, cause = None, None
    try:
        parse_bundle(NAME, data)
    except BundleRejected as rejected:
        reason, cause = rejected.reason, rejected.__cause__
    assert reason != ReasonCode.PARSE_ERROR, repr(cause)


@FAST
@given(st.text(max_size=400))
def test_parse_never_raises_anything_else_on_text(text: str) -> None:
    _parse_or_reject(text.encode("utf-8"))


@FAST
@given(st.binary(max_size=400))
def test_parse_never_raises_anything_else_on_bytes(data: bytes) -> None:
    _parse_or_reject(data)


@FAST
@given(pages(), st.text(alphabet="，。、:：;；()（）?!　\n 丨|>-—完", max_size=30))
def test_parse_never_raises_anything_else_on_mangled_pages(page: str, noise: str) -> None:
    cut = len(page) // 2
    _parse_or_reject((page[:cut] + noise + page[cut:]).encode("utf-8"))


@FAST
@given(pages())
def test_normalizing_the_output_again_changes_nothing(text: str) -> None:
    try:
        first = normalize(text)
    except BundleRejected:
        assume(False)
        raise
    again = normalize(f"{first.title}\n\n{first.body}" if first.title else first.body)
    assert again.title == first.title
    assert again.body == first.body


def _hash(text: str) -> str:
    article = parse_bundle(NAME, text.encode("utf-8")).article
    return article.content_hash


@cache
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


@FAST
@given(pages())
def test_content_hash_ignores_script_indentation_blank_lines_and_footers(text: str) -> None:
    try:
        expected = _hash(text)
    except BundleRejected:
        assume(False)
        raise
    assert _hash(_s2t().convert(text)) == expected
    assert _hash("\n".join("\u3000\u3000" + line for line in text.split("\n"))) == expected
    assert _hash(text.replace("\n\n", "\n")) == expected
    assert _hash(text.replace("\n", "\n\n")) == expected
    assert _hash(text + EXTRA_FOOTER) == expected


@pytest.mark.parametrize(
    "path", sorted((FIXTURES / "seeds").glob("*.txt")), ids=lambda p: p.name[:3]
)
def test_seed_hash_survives_script_conversion(path: Path) -> None:
    text = path.read_text("utf-8")
    if "mojibake" in parse_bundle(path.name, path.read_bytes()).article.flags:
        pytest.skip("converting garbled bytes' characters garbles them differently")
    converted = opencc.OpenCC("t2s").convert(text)
    assert _hash(converted) == _hash(text)
    assert _hash(_s2t().convert(converted)) == _hash(text)


def test_canonical_hash_of_title_and_body_in_both_scripts() -> None:
    assert content_hash("頭髮與後來", "看著我們。") == content_hash("头发与后来", "看着我们。")
