"""The normalizer pipeline: a page's text in, a `Page` and a decision for every line out.

Passes, in order: repair mojibake and strip pinyin notes over the whole text; tidy each
line's spaces; mark furniture lines (rules.py); find the title block (title, subtitle,
byline, date and source lines) ahead of the first real paragraph; cut the footer at the
first footer rule after the body; take datelines, end markers and signatures off the first
and last paragraphs; join broken paragraphs; keep repeated paragraphs once.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from service.errors import BundleRejected, ReasonCode
from service.normalize import byline as by
from service.normalize import dates
from service.normalize import rules as R
from service.normalize.chars import (
    HAN,
    collapse_spaces,
    drop_zero_width,
    has_rare_spaces,
    tidy_spaces,
    wide_count,
    zh,
)
from service.normalize.mojibake import (
    has_garbage,
    mojibake_suspects,
    repair_misaligned_gbk,
    repair_utf8_as_latin1,
)
from service.normalize.pinyin import BROKEN_NOTE, strip_pinyin_notes
from service.normalize.script import detect_script

NORMALIZER_VERSION = "1.0.0"

# NEL (U+0085) is deliberately no line break: it is a UTF-8 continuation byte in Latin-1
# mojibake, which must survive until it is repaired.
_NEWLINE = re.compile("\r\n|[\r\u2028\u2029]")
_URL = re.compile(r"https?://[^\s\u3000-\u303f\uff00-\uffef\"'<>()（）]+")
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
_DATE_LABELS = re.compile(zh("^(?:发布时间|发布日期|发表时间|发表于|时间|日期|Published|Posted)$"))
_UPDATE_LABELS = re.compile(zh("^更新时间$"))
_WEEKDAY = re.compile(zh("星期[一二三四五六日天]|周[一二三四五六日]"))
_LEFTOVER = re.compile(r"[\s|丨/:：·\-—,，()（）\[\]【】《》]+|" + zh(r"第\s*\d+\s*版"))
# A WeChat article's header: `原创 林小雨 城市观察笔记 2023年11月18日 07:30`.
_WECHAT_HEADER = re.compile(
    f"^(?:{zh('原创')}\\s+)(?P<author>[{HAN}·]{{2,8}})\\s+(?P<account>[^\\s\\d]{{2,20}})"
)
_OUTLET_SHAPE = re.compile(f"[{HAN}A-Za-z][{HAN}A-Za-z·/]{{1,19}}")
_SITE_NAME = re.compile(
    ".{0,8}" + zh("(?:网|频道|首页|新闻网|客户端|官网|门户|在线|日报|晚报|新闻|中心)") + "$"
)
_TRAIL_LABEL = re.compile(
    zh(
        r"^(?:您的位置|你的位置|您现在的位置|你现在的位置|当前位置|现在位置|所在位置|位置|导航)\s*[:：]\s*"
    )
)
_TRAIL_SPLIT = re.compile(r"\s*(?:>>|>|»|＞|→|/)\s*")
_TRAIL_NOISE = re.compile(zh(".{0,6}(?:首页|主页)|Home|正文.*|文章|详情|内容"))
# Where a labelled value ends: a space, a bar, or the dash of `人民网-人民日报`.
_VALUE_END = re.compile(r"\s|[|丨]|[-—－_](?=[^\d])")
_SITE_SUFFIX = re.compile(
    "(?:(?:_[^_]{1,16}?|\\s+[-|–—]\\s+[^-|–—]{1,16}?)"
    + zh("(?:网|频道|新闻|在线|客户端|日报|晚报|APP)")
    + ")+$"
)
# The first item of a trail when it names the site rather than a section.
_SITE_HOME = re.compile(".{1,10}" + zh("(?:网|网站|新闻网|客户端|APP|App|官网|新闻|日报|晚报|报)"))
# A first item that can only be the site itself, even when nothing follows it.
_SITE_NAME_FIRST = re.compile(".{1,10}" + zh("(?:网|网站|客户端|APP|App|官网)"))
_BREAK_AFTER = "，,、:：；;"
_ENUMERATED = re.compile(
    r"^(?:[(（]?[一二三四五六七八九十\d]+[)）、.．]|[①-⑳]|"
    + zh("(?:第[一二三四五六七八九十]+|[一二三四五六七八九十]是)")
    + ")"
)
_FINAL_PUNCT = "。，,、:：;；—…"


@dataclass(frozen=True, slots=True)
class Page:
    """A normalized article page: the display body in the page's own script, and metadata."""

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
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LineDecision:
    """What the normalizer did with one input line, and the named rule that decided."""

    line_no: int
    text: str
    kept: bool
    rule: str
    reason: str


@dataclass(slots=True)
class _Line:
    """A non-blank line: `index` among the non-blank lines, `no` among all input lines."""

    index: int
    no: int
    plain: str
    text: str
    rule: R.Rule | None = None
    note: str = ""
    _core: str | None = None
    _wide: int = -1

    @property
    def wide(self) -> int:
        """Ideographs and CJK punctuation in the line (lazily: many lines are never asked)."""
        if self._wide < 0:
            self._wide = wide_count(self.text)
        return self._wide

    @property
    def core(self) -> str:
        """The line without a trailing end marker or bracketed credit, to judge it as prose."""
        if self._core is None:
            stripped, _ = by.strip_end_marker(self.text)
            stripped, _, _ = by.split_signature(stripped)
            self._core = stripped or self.text
        return self._core


@dataclass(slots=True)
class _Meta:
    rule: R.Rule
    date: dates.FoundDate | None = None
    labeled: bool = False
    source: str | None = None
    authors: tuple[str, ...] = ()
    dateline: by.Dateline | None = None
    title: str | None = None


@dataclass(slots=True)
class _Facts:
    """Metadata gathered while walking the lines, best evidence first by rank."""

    authors: list[str] = field(default_factory=list)
    sources: list[tuple[int, int, str]] = field(default_factory=list)
    dated: list[tuple[int, int, dates.FoundDate]] = field(default_factory=list)
    dateline: by.Dateline | None = None
    section: str | None = None
    url: str | None = None

    def add_authors(self, names: tuple[str, ...]) -> None:
        self.authors.extend(name for name in names if name not in self.authors)


@dataclass(slots=True)
class _Analysis:
    lines: list[_Line]
    raw: list[str]
    page: Page | None


def _clean_source(value: str) -> str | None:
    value = value.strip().strip("《》「」『』【】[]()（）\"'“”")
    value = _VALUE_END.split(value, maxsplit=1)[0]
    if not value or len(value) > 30 or _OUTLET_SHAPE.fullmatch(value) is None:
        return None
    return value


def _labelled_fields(text: str) -> list[tuple[str, str]]:
    found = list(_LABEL.finditer(text))
    return [
        (match["label"], text[match.end() : found[k + 1].start() if k + 1 < len(found) else None])
        for k, match in enumerate(found)
    ]


def _detect_meta(line: _Line) -> _Meta | None:
    text = line.text
    if len(text) > 120:
        return None
    # Cheap character tests first: most lines here are titles and short paragraphs.
    dateline = by.DATELINE.match(text) if "月" in text else None
    if dateline is not None and dateline["title"]:
        parsed = by.parse_dateline(text)
        return _Meta(R.DATELINE_TITLE, dateline=parsed, title=parsed.title if parsed else None)
    if "记" in text or "記" in text:
        reporter = by.REPORTER_DATELINE.match(text)
        if reporter is not None and reporter.end() == len(text):
            parsed = by.parse_dateline(text)
            if parsed is not None and parsed.authors:
                return _Meta(
                    R.BYLINE, authors=parsed.authors, source=parsed.outlet, dateline=parsed
                )
    original = _ORIGINAL_TITLE.match(text) if "原" in text[:3] else None
    if original is not None:
        return _Meta(R.ORIGINAL_TITLE, title=original["title"].strip())
    fields = _labelled_fields(line.plain) if ":" in text or "：" in text else []
    if fields and (_LABEL.match(line.plain) or len(fields) >= 2):
        meta = _Meta(R.FIELDS_LINE)
        kinds = set()
        for label, value in fields:
            if _SOURCE_LABELS.match(label):
                meta.source = meta.source or _clean_source(value)
                kinds.add("source")
            elif _AUTHOR_LABELS.match(label):
                credit = by.parse_byline(value, require_role=False)
                meta.authors += credit.authors if credit else ()
                kinds.add("author")
            elif _DATE_LABELS.match(label) or _UPDATE_LABELS.match(label):
                found = dates.find_date(value) or dates.find_bare_date(value)
                if found is not None and meta.date is None:
                    meta.date, meta.labeled = found, _DATE_LABELS.match(label) is not None
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
        wechat = _WECHAT_HEADER.match(line.plain)
        if wechat is not None:
            return _Meta(
                R.DATE_LINE,
                date=dates.find_date(text) or dates.find_bare_date(text),
                source=_clean_source(wechat["account"]),
                authors=(wechat["author"],) if by.is_name(wechat["author"]) else (),
            )
        if len(rest) <= 24:
            meta = _Meta(R.DATE_LINE, date=dates.find_date(text) or dates.find_bare_date(text))
            for label, value in fields:
                if _SOURCE_LABELS.match(label):
                    meta.source = _clean_source(value)
                elif _AUTHOR_LABELS.match(label):
                    credit = by.parse_byline(value, require_role=False)
                    meta.authors += credit.authors if credit else ()
            if meta.source is None and not fields and rest and " " not in rest:
                meta.source = _clean_source(rest)
            return meta
    if len(text) <= 60:
        credit = by.parse_byline(text)
        if credit is not None:
            # A credit naming only the desk (`编辑|张三`) is editor furniture, not a byline.
            rule = R.BYLINE if credit.authors else R.EDITOR
            return _Meta(rule, authors=credit.authors, source=credit.source)
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


def _title_shaped(line: _Line) -> bool:
    text = line.text
    return (
        line.wide >= 5
        and len(text) <= 80
        and text[-1] not in _FINAL_PUNCT
        and not text.startswith(("http://", "https://"))
        and not (len(text) <= 10 and _SITE_NAME.fullmatch(text))
    )


def _subtitle_shaped(line: _Line) -> bool:
    text = line.text
    return line.wide >= 4 and len(text) <= 200 and text[-1] not in _FINAL_PUNCT


def _strong(line: _Line) -> bool:
    """Reads as article prose: a finished sentence of some length, or a long run of text.

    Titles may end with ！ or ？ too, so those count only on longer lines.
    """
    if line.wide >= 80:
        return True
    if line.wide < 10 or not R.ends_sentence(line.core):
        return False
    return line.wide >= 30 or line.core.rstrip(R.AFTER_END)[-1] in "。."


def _good(line: _Line) -> bool:
    """Still prose: a short finished sentence, or a long line with clause punctuation."""
    core = line.core
    if R.ends_sentence(core):
        return (line.wide if core is line.text else wide_count(core)) >= 4
    return line.wide >= 40 and any(mark in core for mark in "，,、；;。")


def _section(breadcrumb: str) -> str | None:
    trail = _TRAIL_LABEL.sub("", breadcrumb)
    items = [
        item for item in _TRAIL_SPLIT.split(trail) if item and not _TRAIL_NOISE.fullmatch(item)
    ]
    if items and (
        _SITE_NAME_FIRST.fullmatch(items[0]) or (len(items) > 1 and _SITE_HOME.fullmatch(items[0]))
    ):
        items = items[1:]
    return " > ".join(items) or None


def _prepare(text: str) -> tuple[list[str], list[_Line], set[str]]:
    if "\r" in text or "\u2028" in text or "\u2029" in text:
        text = _NEWLINE.sub("\n", text)
    raw = text.split("\n")
    flags: set[str] = set()
    work = text
    suspects = mojibake_suspects(work)
    if suspects.latin1:
        # Before zero-width characters go: U+00AD is a soft hyphen there but a byte here.
        work, latin = repair_utf8_as_latin1(work)
        if latin:
            flags |= {"mojibake", "mojibake_repaired"}
    rare = has_rare_spaces(work)
    if rare:
        work = drop_zero_width(work)
    if suspects.lost_byte:
        report = repair_misaligned_gbk(work)
        work = report.text
        if report.detected:
            flags.add("mojibake")
        if report.repaired:
            flags.add("mojibake_repaired")
    work, notes = strip_pinyin_notes(work)
    if notes:
        flags.add("pinyin_stripped")
        if "?" in work:
            # `?chuàng)`: a note whose character was lost with a garbled byte.
            work = BROKEN_NOTE.sub("", work)
    if suspects.garbage and has_garbage(work):
        flags.add("mojibake")
    plain = collapse_spaces(work, rare=rare)
    tidy = tidy_spaces(plain)
    # Blank lines only separate paragraphs: the analysis never looks at them, and `after`
    # records where they were (a paragraph joins the next only across blank lines).
    lines = [
        _Line(0, no, plain_line, tidy_line)
        for no, (plain_line, tidy_line) in enumerate(
            zip(plain.split("\n"), tidy.split("\n"), strict=True)
        )
        if tidy_line
    ]
    for index, line in enumerate(lines):
        line.index = index
    return raw, lines, flags


def _choose_title(lines: list[_Line], metas: dict[int, _Meta], stop: int) -> int | None:
    """Index of the title line among the lines before `stop` (the first real paragraph)."""
    candidates: list[int] = []
    runs: list[list[int]] = [[]]
    for line in lines[:stop]:
        if line.rule is not None:
            runs.append([])
            continue
        if line.index in metas:
            continue
        if _title_shaped(line):
            candidates.append(line.index)
            runs[-1].append(line.index)
    if not candidates:
        return None
    # A title printed twice (above the body, in a `题:` dateline or as 原标题) is the title.
    seen = Counter(line.text for line in lines)
    seen.update(meta.title for meta in metas.values() if meta.title)
    for index in candidates:
        if seen[lines[index].text] > 1:
            return index
    last_run = next(run for run in reversed(runs) if run)
    return last_run[0]


def _is_deck(
    lines: list[_Line], metas: dict[int, _Meta], title_at: int, line: _Line, classified: _Classifier
) -> bool:
    """A line right under the title is its deck only with evidence of a title block around it.

    A dash-led line (`——记…`) is a deck; otherwise a byline, date or source line must sit
    between the title and it or follow it, or the title must be printed again after it. A
    short heading-like first paragraph under a bare title stays in the body.
    """
    if line.text.startswith(("—", "－", "-")):
        return True
    if any(index in metas for index in range(title_at + 1, line.index)):
        return True
    title = lines[title_at].text
    for after in lines[line.index + 1 :]:
        classified.upto(after.index + 1)
        if after.rule is None:
            return after.index in metas or after.text == title
    return False


class _Classifier:
    """Sets `rule` on lines in order, as far as the analysis has read."""

    def __init__(self, lines: list[_Line]) -> None:
        self._lines = lines
        after_blank = [line.index == 0 or line.no > lines[line.index - 1].no + 1 for line in lines]
        self._rules = R.LineRules([line.text for line in lines], after_blank)
        self.done = 0

    def upto(self, end: int) -> None:
        if end <= self.done:
            return
        # A few lines ahead at a time: the per-call overhead showed up in profiles.
        rules = self._rules.upto(end + 7)
        for index in range(self.done, len(rules)):
            self._lines[index].rule = rules[index]
        self.done = len(rules)


def _analyse(text: str, *, every_line: bool = False) -> _Analysis:
    raw, lines, flags = _prepare(text)
    facts = _Facts()
    classified = _Classifier(lines)

    # The first real paragraph bounds the search for the title block.
    first_prose = len(lines)
    for line in lines:
        classified.upto(line.index + 1)
        if line.rule is None and _strong(line):
            first_prose = line.index
            break
    metas: dict[int, _Meta] = {}
    for line in lines[: first_prose + 1]:
        if line.rule is None:
            meta = _detect_meta(line)
            if meta is not None:
                metas[line.index] = meta

    title_at = _choose_title(lines, metas, first_prose)
    title = lines[title_at].text if title_at is not None else ""
    # The page's <title> form (`…_新闻频道_央视网`) repeats the headline with site names.
    bare_title = _SITE_SUFFIX.sub("", title) if title else ""
    if wide_count(bare_title) < 5:
        bare_title = title
    subtitle_at: int | None = None
    body_start = first_prose
    if title_at is not None:
        lines[title_at].rule = R.TITLE
        body_start = len(lines)
        for line in lines[title_at + 1 :]:
            classified.upto(line.index + 1)
            if line.rule is not None or line.index in metas:
                continue
            if line.text in (title, bare_title):
                line.rule = R.TITLE_REPEAT
                continue
            if (
                subtitle_at is None
                and line.index < first_prose
                and _subtitle_shaped(line)
                and not any(
                    lines[k].rule is R.TITLE_REPEAT for k in range(title_at + 1, line.index)
                )
                and _is_deck(lines, metas, title_at, line, classified)
            ):
                subtitle_at = line.index
                line.rule = R.SUBTITLE
                continue
            body_start = line.index
            break
    for line in lines[:body_start]:
        if line.rule is None and line.index not in metas:
            line.rule = R.HEADER

    # Metadata lines of the title block (and any before the body) are taken out.
    for index, meta in metas.items():
        if index >= body_start:
            continue
        lines[index].rule = meta.rule
        before_title = title_at is not None and index < title_at
        _take_meta(facts, meta, rank_shift=3 if before_title else 0, order=index)

    # The footer starts at the first footer rule once some prose has been read.
    cutoff = len(lines)
    seen_prose = False
    for line in lines[body_start:]:
        classified.upto(line.index + 1)
        if line.rule is None and _good(line):
            seen_prose = True
        elif line.rule is not None and line.rule.footer and seen_prose:
            cutoff = line.index
            break
    _read_footer(lines, cutoff, facts, classified, has_url="://" in text)
    if every_line:
        classified.upto(len(lines))
        for line in lines[cutoff:]:
            if line.rule is None:
                line.rule = R.AFTER_FOOTER

    body = [line for line in lines[body_start:cutoff] if line.rule is None]
    for line in body:
        if line.text in (title, bare_title) or (
            subtitle_at is not None and line.text == lines[subtitle_at].text
        ):
            line.rule = R.TITLE_REPEAT
            continue
        if len(line.text) <= 60 and not R.ends_sentence(line.text):
            meta = _detect_meta(line)
            if meta is not None:
                line.rule = meta.rule
                _take_meta(facts, meta, rank_shift=0, order=line.index)
    body = [line for line in body if line.rule is None]

    # A trail with a 位置 label beats a bare one: the bare one may be the site's menu.
    trails = [line.text for line in lines if line.rule is R.BREADCRUMB]
    trails.sort(key=lambda trail: _TRAIL_LABEL.match(trail) is None)
    facts.section = next(filter(None, map(_section, trails)), None)

    paragraphs = _body_paragraphs(body, lines, facts, flags)
    body_text = "\n\n".join(paragraphs)
    subtitle = lines[subtitle_at].text.lstrip("—-– ") if subtitle_at is not None else None
    if not body_text or wide_count(body_text) < 10:
        for line in lines:
            if line.rule is None:
                line.rule = R.NO_BODY
        return _Analysis(lines, raw, None)
    page = Page(
        title=bare_title,
        subtitle=subtitle or None,
        body=body_text,
        authors=tuple(facts.authors),
        source=_best_source(facts),
        published_at=_best_date(facts, title, subtitle, paragraphs),
        section=facts.section,
        dateline_place=facts.dateline.place if facts.dateline else None,
        url=facts.url,
        script=detect_script(f"{title}\n{body_text}"),
        flags=tuple(sorted(flags)),
    )
    return _Analysis(lines, raw, page)


def _take_meta(facts: _Facts, meta: _Meta, *, rank_shift: int, order: int) -> None:
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
        _take_dateline(facts, meta.dateline, order)


def _take_dateline(facts: _Facts, dateline: by.Dateline, order: int) -> None:
    if facts.dateline is None:
        facts.dateline = dateline
    facts.add_authors(dateline.authors)
    if dateline.outlet:
        facts.sources.append((2, order, dateline.outlet))
    if dateline.month is not None:
        facts.dated.append((3, order, dates.FoundDate(None, dateline.month, dateline.day)))


def _read_footer(
    lines: list[_Line], cutoff: int, facts: _Facts, classified: _Classifier, *, has_url: bool
) -> None:
    """The page's own footer (before any list) may print its URL and a labelled date."""
    for line in lines[cutoff:]:
        classified.upto(line.index + 1)
        if line.rule in (R.RELATED, R.COMMENTS, R.PREV_NEXT, R.LIST_ITEM):
            break
        if line.rule is R.ARTICLE_URL and facts.url is None:
            found = _URL.search(line.text)
            if found is not None:
                facts.url = found.group().rstrip(".,;")
        if line.rule is None and (":" in line.text or "：" in line.text):
            for label, value in _labelled_fields(line.plain):
                if _DATE_LABELS.match(label):
                    found_date = dates.find_date(value)
                    if found_date is not None:
                        facts.dated.append((0, line.index, found_date))
    for line in lines if facts.url is None and has_url else ():
        if facts.url is not None:
            break
        # Lines past the classified ones are judged on their own, without list context.
        rule = line.rule if line.index < classified.done else None
        if rule is None and "://" in line.text and line.index >= classified.done:
            rule = R.classify(line.text)
        if rule is R.ARTICLE_URL:
            found = _URL.search(line.text)
            if found is not None:
                facts.url = found.group().rstrip(".,;")
    if facts.url is not None:
        found_date = dates.url_date(facts.url)
        if found_date is not None:
            facts.dated.append((2, len(lines), found_date))


def _best_source(facts: _Facts) -> str | None:
    return min(facts.sources)[2] if facts.sources else None


def _best_date(
    facts: _Facts, title: str, subtitle: str | None, paragraphs: list[str]
) -> datetime | None:
    for _, _, found in sorted(facts.dated, key=lambda item: (item[0], item[1])):
        year = None
        if found.year is None:
            year = dates.page_year([title, subtitle or "", *paragraphs])
        resolved = found.resolve(year)
        if resolved is not None:
            return resolved
    return None


def _strip_lead(line: _Line, facts: _Facts) -> str:
    """Take a dispatch dateline or a `本报讯(记者 X)` credit off the first paragraph."""
    text = line.text
    dateline = by.parse_dateline(text)
    if dateline is not None:
        _take_dateline(facts, dateline, line.index)
        line.note = "dispatch dateline taken out"
        return dateline.rest.lstrip(" ,，:：")
    credit = by.LEAD_CREDIT.match(text)
    if credit is None:
        return text
    if credit["house"]:
        outlet = _clean_source(credit["house"])
        if outlet is not None:
            facts.sources.append((2, line.index, outlet))
        line.note = "opening credit taken out"
        return text[credit.end() :]
    parsed = by.parse_byline(credit["byline"])
    if parsed is None:
        return text
    facts.add_authors(parsed.authors)
    if credit["outlet"]:
        outlet = _clean_source(credit["outlet"])
        if outlet is not None and not outlet.startswith("本"):
            facts.sources.append((2, line.index, outlet))
    line.note = "opening credit taken out"
    return text[credit.end() :]
    return text


def _strip_tail(line: _Line, text: str, facts: _Facts) -> str:
    """Take end markers and a bracketed signature off the last paragraph."""
    for _ in range(3):
        text, marker = by.strip_end_marker(text)
        text, names, signature = by.split_signature(text)
        facts.add_authors(names)
        if marker or signature:
            line.note = "end marker or signature taken out"
        if not (marker or signature):
            break
    return text.rstrip()


def _body_paragraphs(
    body: list[_Line], lines: list[_Line], facts: _Facts, flags: set[str]
) -> list[str]:
    if not body:
        return []
    texts = {line.index: line.text for line in body}
    first = body[0]
    texts[first.index] = _strip_lead(first, facts)
    if not texts[first.index]:
        first.rule = R.DATELINE_TITLE
    # Lines after the last prose line are trailing furniture (captions, credits, stray words).
    prose = [line for line in body if line.rule is None and _good(line)]
    last_prose = prose[-1].index if prose else body[-1].index
    for line in body:
        if line.index > last_prose and line.rule is None:
            credit = by.parse_byline(line.text)
            if credit is not None:
                facts.add_authors(credit.authors)
                line.rule = R.BYLINE
            else:
                line.rule = R.TRAILING
    kept = [line for line in body if line.rule is None and texts[line.index]]
    if kept:
        last = kept[-1]
        texts[last.index] = _strip_tail(last, texts[last.index], facts)
        if not texts[last.index]:
            last.rule = R.END_MARKER
            kept.pop()

    paragraphs: list[str] = []
    previous: _Line | None = None
    seen: set[str] = set()
    owners: list[_Line] = []
    for line in kept:
        text = texts[line.index]
        # Joined whatever furniture stood between: the decision must depend on the kept text
        # alone, or normalizing the output again would join what this pass left apart.
        if (
            previous is not None
            and paragraphs
            and paragraphs[-1][-1] in _BREAK_AFTER
            and not (paragraphs[-1][-1] in ":：;；" and _ENUMERATED.match(text))
        ):
            paragraphs[-1] += text
            line.rule = R.JOINED
        else:
            paragraphs.append(text)
            owners.append(line)
            line.rule = R.CONTENT
        previous = line
    result: list[str] = []
    for paragraph, owner in zip(paragraphs, owners, strict=True):
        key = paragraph
        if key in seen and wide_count(paragraph) >= 4:
            owner.rule = R.DUPLICATE
            for line in kept:
                if (
                    line.rule is R.JOINED
                    and line.index > owner.index
                    and line.index < _next_owner(owners, owner)
                ):
                    line.rule = R.DUPLICATE
            flags.add("duplicate_paragraphs_removed")
            continue
        seen.add(key)
        result.append(paragraph)
    return result


def _next_owner(owners: list[_Line], owner: _Line) -> int:
    later = [other.index for other in owners if other.index > owner.index]
    return min(later) if later else 1 << 30


def normalize(text: str) -> Page:
    """Normalize a page's text into a `Page`, or reject it as `no_article`."""
    analysis = _analyse(text)
    if analysis.page is None:
        raise BundleRejected(
            ReasonCode.NO_ARTICLE,
            "no article body found: the page holds only navigation, lists or page furniture",
        )
    return analysis.page


def explain(text: str) -> list[LineDecision]:
    """For every input line: kept or dropped, and the named rule that decided."""
    analysis = _analyse(text, every_line=True)
    by_no = {line.no: line for line in analysis.lines}
    decisions = []
    for no, raw in enumerate(analysis.raw):
        line = by_no.get(no)
        rule = R.BLANK if line is None else line.rule or R.NO_BODY
        note = line.note if line is not None else ""
        decisions.append(
            LineDecision(
                line_no=no + 1,
                text=raw,
                kept=rule.keep,
                rule=rule.name,
                reason=f"{rule.reason}; {note}" if note else rule.reason,
            )
        )
    return decisions
