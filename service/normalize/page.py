"""The normalizer pipeline: a page's text in, a `Page` and a decision for every line out.

Passes, in order: repair mojibake and strip pinyin notes over the whole text; tidy the
spaces; mark furniture lines (rules.py), lazily and in order; find the title block (title,
deck, byline, date and source lines, meta.py) ahead of the first real paragraph; cut the
footer at the first footer rule after the body; take datelines, end markers and signatures
off the first and last paragraphs; join broken paragraphs; keep repeated paragraphs once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from service.errors import BundleRejected, ReasonCode
from service.normalize import byline as by
from service.normalize import dates
from service.normalize import meta as M
from service.normalize import rules as R
from service.normalize.chars import (
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
    _good: bool | None = None

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

    @property
    def good(self) -> bool:
        """Still prose: a short finished sentence, or a long line with clause punctuation."""
        # Remembered: the footer search and the body's last-prose search both ask.
        if self._good is None:
            core = self.core
            if R.ends_sentence(core):
                self._good = (self.wide if core is self.text else wide_count(core)) >= 4
            else:
                self._good = self.wide >= 40 and any(mark in core for mark in "，,、；;。")
        return self._good


@dataclass(slots=True)
class _Analysis:
    lines: list[_Line]
    raw: list[str]
    page: Page | None


def _title_shaped(line: _Line) -> bool:
    text = line.text
    return (
        line.wide >= 5
        and len(text) <= 80
        and text[-1] not in _FINAL_PUNCT
        and not text.startswith(("http://", "https://"))
        and not (len(text) <= 10 and M.SITE_NAME.fullmatch(text))
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
    # Blank lines only separate paragraphs: the analysis works on the other lines, and `no`
    # keeps each one's place among all input lines for --explain.
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


def _choose_title(lines: list[_Line], metas: dict[int, M.Meta], stop: int) -> int | None:
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
    # Counted for the few candidates only (list.count, in C), not for every line of the page.
    texts = [line.text for line in lines]
    titles = [meta.title for meta in metas.values() if meta.title]
    for index in candidates:
        text = lines[index].text
        if texts.count(text) + titles.count(text) > 1:
            return index
    last_run = next(run for run in reversed(runs) if run)
    return last_run[0]


def _is_deck(
    lines: list[_Line],
    metas: dict[int, M.Meta],
    title_at: int,
    line: _Line,
    classified: _Classifier,
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
        """Classify the lines before `end` (and a few more) that are not classified yet."""
        if end <= self.done:
            return
        # A few lines ahead at a time: the per-call overhead showed up in profiles.
        rules = self._rules.upto(end + 7)
        for index in range(self.done, len(rules)):
            self._lines[index].rule = rules[index]
        self.done = len(rules)


def _analyse(text: str, *, every_line: bool = False) -> _Analysis:
    raw, lines, flags = _prepare(text)
    facts = M.Facts()
    classified = _Classifier(lines)

    # The first real paragraph bounds the search for the title block.
    first_prose = len(lines)
    for line in lines:
        classified.upto(line.index + 1)
        if line.rule is None and _strong(line):
            first_prose = line.index
            break
    metas: dict[int, M.Meta] = {}
    for line in lines[: first_prose + 1]:
        if line.rule is None:
            meta = M.detect_meta(line.text, line.plain)
            if meta is not None:
                metas[line.index] = meta

    title_at = _choose_title(lines, metas, first_prose)
    title = lines[title_at].text if title_at is not None else ""
    # The page's <title> form (`…_新闻频道_央视网`) repeats the headline with site names.
    bare_title = M.SITE_SUFFIX.sub("", title) if title else ""
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
        M.take_meta(facts, meta, rank_shift=3 if before_title else 0, order=index)

    # The footer starts at the first footer rule once some prose has been read.
    cutoff = len(lines)
    seen_prose = False
    for line in lines[body_start:]:
        classified.upto(line.index + 1)
        if line.rule is None and line.good:
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
            meta = M.detect_meta(line.text, line.plain)
            if meta is not None:
                line.rule = meta.rule
                M.take_meta(facts, meta, rank_shift=0, order=line.index)
    body = [line for line in body if line.rule is None]

    # A trail with a 位置 label beats a bare one: the bare one may be the site's menu.
    trails = [line.text for line in lines if line.rule is R.BREADCRUMB]
    trails.sort(key=lambda trail: M.TRAIL_LABEL.match(trail) is None)
    facts.section = next(filter(None, map(M.section_of, trails)), None)

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
        source=M.best_source(facts),
        published_at=M.best_date(facts, title, subtitle, paragraphs),
        section=facts.section,
        dateline_place=facts.dateline.place if facts.dateline else None,
        url=facts.url,
        script=detect_script(f"{title}\n{body_text}"),
        flags=tuple(sorted(flags)),
    )
    return _Analysis(lines, raw, page)


def _read_footer(
    lines: list[_Line], cutoff: int, facts: M.Facts, classified: _Classifier, *, has_url: bool
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
            for label, value in M.labelled_fields(line.plain):
                if M.DATE_LABELS.match(label):
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


def _strip_lead(line: _Line, facts: M.Facts) -> str:
    """Take a dispatch dateline or a `本报讯(记者 X)` credit off the first paragraph."""
    text = line.text
    dateline = by.parse_dateline(text)
    if dateline is not None:
        M.take_dateline(facts, dateline, line.index)
        line.note = "dispatch dateline taken out"
        return dateline.rest.lstrip(" ,，:：")
    credit = by.LEAD_CREDIT.match(text)
    if credit is None:
        return text
    if credit["house"]:
        outlet = M.clean_source(credit["house"])
        if outlet is not None:
            facts.sources.append((2, line.index, outlet))
        line.note = "opening credit taken out"
        return text[credit.end() :]
    parsed = by.parse_byline(credit["byline"])
    if parsed is None:
        return text
    facts.add_authors(parsed.authors)
    if credit["outlet"]:
        outlet = M.clean_source(credit["outlet"])
        if outlet is not None and not outlet.startswith("本"):
            facts.sources.append((2, line.index, outlet))
    line.note = "opening credit taken out"
    return text[credit.end() :]


def _strip_tail(line: _Line, text: str, facts: M.Facts) -> str:
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
    body: list[_Line], lines: list[_Line], facts: M.Facts, flags: set[str]
) -> list[str]:
    if not body:
        return []
    texts = {line.index: line.text for line in body}
    first = body[0]
    texts[first.index] = _strip_lead(first, facts)
    if not texts[first.index]:
        first.rule = R.DATELINE_TITLE
    # Lines after the last prose line are trailing furniture (captions, credits, stray words).
    prose = [line for line in body if line.rule is None and line.good]
    if not prose:
        # Headlines, menus and captions only: nothing here reads as an article.
        return []
    last_prose = prose[-1].index
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

    # Paragraphs as runs of kept lines: a line broken after a comma-like mark continues.
    groups: list[list[_Line]] = []
    for line in kept:
        text = texts[line.index]
        # Joined across any furniture that stood between: the decision must rest on the kept
        # text alone, or normalizing the output again would join what this pass left apart.
        tail = texts[groups[-1][-1].index][-1] if groups else ""
        if tail and tail in _BREAK_AFTER and not (tail in ":：;；" and _ENUMERATED.match(text)):
            groups[-1].append(line)
        else:
            groups.append([line])
    paragraphs: list[str] = []
    kept_texts: set[str] = set()  # `in paragraphs` compared every pair of equal-length paragraphs
    for group in groups:
        paragraph = "".join(texts[line.index] for line in group)
        repeated = paragraph in kept_texts and wide_count(paragraph) >= 4
        if repeated:
            flags.add("duplicate_paragraphs_removed")
        else:
            paragraphs.append(paragraph)
            kept_texts.add(paragraph)
        for position, line in enumerate(group):
            line.rule = R.DUPLICATE if repeated else R.CONTENT if position == 0 else R.JOINED
    return paragraphs


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
