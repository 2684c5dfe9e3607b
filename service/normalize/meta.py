"""Metadata lines of a page: dates, sources, bylines, section trails, and how they rank."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from service.normalize import byline as by
from service.normalize import dates
from service.normalize import rules as R
from service.normalize.chars import HAN, zh

_ORIGINAL_TITLE = re.compile(r"[(（【\[]?\s*" + zh("原标题") + r"\s*[:：]\s*(?P<title>[^)）】\]]*)")
_HAN_CHAR = re.compile(f"[{HAN}]")
# Labels that may run straight into a date: `发布时间2024-03-05`.
_LABEL_END = re.compile(zh("(?:时间|日期|发布|发表|更新|发表于|发布于)\\s*$"))
_LABEL = re.compile(
    "(?P<label>"
    + zh(
        "文章来源|本文来源|信息来源|来源于|来源|稿源|出处|转自|作者|记者|发布时间|发布日期|发表时间"
        "|发表于|更新时间|时间|日期|浏览次数|阅读量|点击数|浏览|点击|阅读|字号"
    )
    + r"|Source|Published|Posted)\s*[:：]\s*"
)
_SOURCE_LABELS = re.compile(
    zh("^(?:文章来源|本文来源|信息来源|来源于|来源|稿源|出处|转自|Source)$")
)
_AUTHOR_LABELS = re.compile(zh("^(?:作者|记者)$"))
DATE_LABELS = re.compile(zh("^(?:发布时间|发布日期|发表时间|发表于|时间|日期|Published|Posted)$"))
_UPDATE_LABELS = re.compile(zh("^更新时间$"))
_WEEKDAY = re.compile(zh("星期[一二三四五六日天]|周[一二三四五六日]"))
_LEFTOVER = re.compile(r"[\s|丨/:：·\-—,，()（）\[\]【】《》]+|" + zh(r"第\s*\d+\s*版"))
# A WeChat article's header: `原创 林小雨 城市观察笔记 2023年11月18日 07:30`.
_WECHAT_HEADER = re.compile(
    f"^(?:{zh('原创')}\\s+)(?P<author>[{HAN}·]{{2,8}})\\s+(?P<account>[^\\s\\d]{{2,20}})"
)
_OUTLET_SHAPE = re.compile(f"[{HAN}A-Za-z][{HAN}A-Za-z·/]{{1,19}}")
SITE_NAME = re.compile(
    ".{0,8}" + zh("(?:网|频道|首页|新闻网|客户端|官网|门户|在线|日报|晚报|新闻|中心)") + "$"
)
TRAIL_LABEL = re.compile(
    zh(
        r"^(?:您的位置|你的位置|您现在的位置|你现在的位置|当前位置|现在位置|所在位置|位置|导航)\s*[:：]\s*"
    )
)
_TRAIL_SPLIT = re.compile(r"\s*(?:>>|>|»|＞|→|/)\s*")
_TRAIL_NOISE = re.compile(zh(".{0,6}(?:首页|主页)|Home|正文.*|文章|详情|内容"))
# Where a labelled value ends: a space, a bar, or the dash of `人民网-人民日报`.
_VALUE_END = re.compile(r"\s|[|丨]|[-—－_](?=[^\d])")
SITE_SUFFIX = re.compile(
    "(?:(?:_[^_]{1,16}?|\\s+[-|–—]\\s+[^-|–—]{1,16}?)"
    + zh("(?:网|频道|新闻|在线|客户端|日报|晚报|APP)")
    + ")+$"
)
# The first item of a trail when it names the site rather than a section.
_SITE_HOME = re.compile(".{1,10}" + zh("(?:网|网站|新闻网|客户端|APP|App|官网|新闻|日报|晚报|报)"))
# A first item that can only be the site itself, even when nothing follows it.
_SITE_NAME_FIRST = re.compile(".{1,10}" + zh("(?:网|网站|客户端|APP|App|官网)"))


@dataclass(slots=True)
class Meta:
    """What one metadata line said: its rule and any date, source, authors, dateline, title."""

    rule: R.Rule
    date: dates.FoundDate | None = None
    labeled: bool = False
    source: str | None = None
    authors: tuple[str, ...] = ()
    dateline: by.Dateline | None = None
    title: str | None = None


@dataclass(slots=True)
class Facts:
    """Metadata gathered while walking the lines, best evidence first by rank."""

    authors: list[str] = field(default_factory=list)
    sources: list[tuple[int, int, str]] = field(default_factory=list)
    dated: list[tuple[int, int, dates.FoundDate]] = field(default_factory=list)
    dateline: by.Dateline | None = None
    section: str | None = None
    url: str | None = None

    def add_authors(self, names: tuple[str, ...]) -> None:
        """Add names not seen yet, keeping the page's order."""
        self.authors.extend(name for name in names if name not in self.authors)


def clean_source(value: str) -> str | None:
    """An outlet name from a labelled value (`人民网-人民日报 作者:…` -> `人民网`), or None."""
    value = value.strip().strip("《》「」『』【】[]()（）\"'“”")
    value = _VALUE_END.split(value, maxsplit=1)[0]
    if not value or len(value) > 30 or _OUTLET_SHAPE.fullmatch(value) is None:
        return None
    return value


def labelled_fields(text: str) -> list[tuple[str, str]]:
    """`来源:X 作者:Y 发布时间:Z` as (label, value) pairs, in order."""
    found = list(_LABEL.finditer(text))
    return [
        (match["label"], text[match.end() : found[k + 1].start() if k + 1 < len(found) else None])
        for k, match in enumerate(found)
    ]


def detect_meta(text: str, plain: str) -> Meta | None:
    """The metadata a title-block line holds (date, source, byline...), or None."""
    if len(text) > 120:
        return None
    # Cheap character tests first: most lines here are titles and short paragraphs.
    dateline = by.DATELINE.match(text) if "月" in text else None
    if dateline is not None and dateline["title"]:
        parsed = by.parse_dateline(text)
        return Meta(R.DATELINE_TITLE, dateline=parsed, title=parsed.title if parsed else None)
    if "记" in text or "記" in text:
        reporter = by.REPORTER_DATELINE.match(text)
        if reporter is not None and reporter.end() == len(text):
            parsed = by.parse_dateline(text)
            if parsed is not None and parsed.authors:
                return Meta(R.BYLINE, authors=parsed.authors, source=parsed.outlet, dateline=parsed)
    original = _ORIGINAL_TITLE.match(text) if "原" in text[:3] else None
    if original is not None:
        return Meta(R.ORIGINAL_TITLE, title=original["title"].strip())
    fields = labelled_fields(plain) if ":" in text or "：" in text else []
    if fields and (_LABEL.match(plain) or len(fields) >= 2):
        meta = Meta(R.FIELDS_LINE)
        kinds = set()
        for label, value in fields:
            if _SOURCE_LABELS.match(label):
                meta.source = meta.source or clean_source(value)
                kinds.add("source")
            elif _AUTHOR_LABELS.match(label):
                credit = by.parse_byline(value, require_role=False)
                meta.authors += credit.authors if credit else ()
                kinds.add("author")
            elif DATE_LABELS.match(label) or _UPDATE_LABELS.match(label):
                found = dates.find_date(value) or dates.find_bare_date(value)
                if found is not None and meta.date is None:
                    meta.date, meta.labeled = found, DATE_LABELS.match(label) is not None
                kinds.add("date")
        if kinds == {"source"}:
            meta.rule = R.SOURCE_LINE
        elif kinds == {"date"}:
            meta.rule = R.DATE_LINE
        elif kinds == {"author"}:
            meta.rule = R.BYLINE
        return meta
    spans = dates.date_spans(text)
    if spans and not any(_embedded(text, start, end) for start, end in spans):
        rest = "".join(
            text[end : spans[k + 1][0] if k + 1 < len(spans) else None]
            for k, (_, end) in enumerate(spans)
        )
        rest = _LEFTOVER.sub(" ", _WEEKDAY.sub(" ", text[: spans[0][0]] + rest)).strip()
        wechat = _WECHAT_HEADER.match(plain)
        if wechat is not None:
            return Meta(
                R.DATE_LINE,
                date=dates.find_date(text) or dates.find_bare_date(text),
                source=clean_source(wechat["account"]),
                authors=(wechat["author"],) if by.is_name(wechat["author"]) else (),
            )
        if len(rest) <= 24:
            meta = Meta(R.DATE_LINE, date=dates.find_date(text) or dates.find_bare_date(text))
            for label, value in fields:
                if _SOURCE_LABELS.match(label):
                    meta.source = clean_source(value)
                elif _AUTHOR_LABELS.match(label):
                    credit = by.parse_byline(value, require_role=False)
                    meta.authors += credit.authors if credit else ()
            if meta.source is None and not fields and rest and " " not in rest:
                meta.source = clean_source(rest)
            return meta
    if len(text) <= 60:
        credit = by.parse_byline(text)
        if credit is not None:
            # A credit naming only the desk (`编辑|张三`) is editor furniture, not a byline.
            rule = R.BYLINE if credit.authors else R.EDITOR
            return Meta(rule, authors=credit.authors, source=credit.source)
    return None


def _embedded(text: str, start: int, end: int) -> bool:
    """A date inside running text (`这项新规3月1日起施行`) does not make a date line."""
    while end > start and text[end - 1].isspace():
        end -= 1
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return (_HAN_CHAR.match(before) is not None and not _LABEL_END.search(text, 0, start)) or (
        _HAN_CHAR.match(after) is not None and not _WEEKDAY.match(text, end)
    )


def section_of(breadcrumb: str) -> str | None:
    """The section a breadcrumb names, without the site, 首页 and 正文 (`科技`)."""
    trail = TRAIL_LABEL.sub("", breadcrumb)
    items = [
        item for item in _TRAIL_SPLIT.split(trail) if item and not _TRAIL_NOISE.fullmatch(item)
    ]
    if items and (
        _SITE_NAME_FIRST.fullmatch(items[0]) or (len(items) > 1 and _SITE_HOME.fullmatch(items[0]))
    ):
        items = items[1:]
    return " > ".join(items) or None


def take_meta(facts: Facts, meta: Meta, *, rank_shift: int, order: int) -> None:
    """Record a metadata line's evidence; lower ranks win (labelled before inferred)."""
    facts.add_authors(meta.authors)
    if meta.source:
        rank = 0 if meta.rule in (R.SOURCE_LINE, R.FIELDS_LINE) else 1
        if meta.rule is R.BYLINE:
            rank = 3
        facts.sources.append((rank + rank_shift, order, meta.source))
    if meta.date is not None:
        rank = 0 if meta.labeled else 1
        facts.dated.append((rank + rank_shift, order, meta.date))
    if meta.dateline is not None:
        take_dateline(facts, meta.dateline, order)


def take_dateline(facts: Facts, dateline: by.Dateline, order: int) -> None:
    """Record a dispatch dateline: outlet, place, authors and its month and day."""
    if facts.dateline is None:
        facts.dateline = dateline
    facts.add_authors(dateline.authors)
    if dateline.outlet:
        facts.sources.append((2, order, dateline.outlet))
    if dateline.month is not None:
        facts.dated.append((3, order, dates.FoundDate(None, dateline.month, dateline.day)))


def best_source(facts: Facts) -> str | None:
    """The credited outlet with the best rank (a `来源:` line over a byline's outlet)."""
    return min(facts.sources)[2] if facts.sources else None


def best_date(
    facts: Facts, title: str, subtitle: str | None, paragraphs: list[str]
) -> datetime | None:
    """The best-ranked date that resolves; a bare `M月D日` takes the page's own year."""
    for _, _, found in sorted(facts.dated, key=lambda item: (item[0], item[1])):
        year = None
        if found.year is None:
            year = dates.page_year([title, subtitle or "", *paragraphs])
        resolved = found.resolve(year)
        if resolved is not None:
            return resolved
    return None
