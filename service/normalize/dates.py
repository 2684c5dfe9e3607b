"""Publication dates as pages print them, their time zone, and the year of a bare `M月D日`."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from service.normalize.chars import HAN, zh

CHINA = timezone(timedelta(hours=8), "CST")

_TIME = (
    r"(?:\s*(?:T|日)?\s*(?P<ampm>上午|下午|晚上|早上|凌晨|中午)?\s*"
    r"(?P<H>[01]?\d|2[0-3])\s*[:：时時点點]\s*(?P<M>[0-5]\d)(?:\s*[:：分]\s*(?P<S>[0-5]\d))?"
    r"(?:\.\d+)?(?:\s*[秒分])?)?"
)
_ZONE = (
    r"(?:\s*[(（]?\s*(?:"
    r"(?P<z>Z)(?![A-Za-z])"
    r"|(?P<u>UTC|GMT)\s*(?:(?P<zs>[+-])\s*(?P<zh>\d{1,2})(?::?(?P<zm>\d{2}))?)?"
    r"|(?P<os>[+-])(?P<oh>[01]\d):?(?P<om>[0-5]\d)"
    r"|(?P<bj>" + zh("北京时间") + r")"
    r")\s*[)）]?)?"
)
# `2024-03-05 10:20`, `2024年3月5日 10:20`, `2024/03/05`, `2024.03.05`, ISO 8601 with offset.
FULL_DATE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})\s*(?:[-/.]|年)\s*(?P<m>1[0-2]|0?[1-9])\s*(?:[-/.]|月)\s*"
    r"(?P<d>3[01]|[12]\d|0?[1-9])(?!\d)\s*日?" + _TIME + _ZONE
)
# A bare `3月5日` (with an optional time): its year must come from elsewhere on the page.
BARE_DATE = re.compile(
    r"(?<![\d年])(?P<m>1[0-2]|0?[1-9])\s*月\s*(?P<d>3[01]|[12]\d|0?[1-9])\s*日" + _TIME + _ZONE
)
# Dates inside a printed URL: /2020-06-15/, /20200615/, /2020/0615/, /2020-06/15/, t20200615_.
_URL_DATE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})[-_/]?(?P<m>0[1-9]|1[0-2])[-_/]?(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"
)
_DIGIT = re.compile(r"\d")
# A year the page itself writes (`2024年`, `2024常州`), for a bare `M月D日`. A year right
# after 到/至 is a target (`到2035年`), and one before a counter word is a quantity.
_YEAR = re.compile(
    r"(?<![\d到至])(?P<y>(?:19|20)\d{2})(?!\d)(?=年|(?![多余餘万萬亿億元人个個件项項家名米吨噸千百次天户戶台辆輛套所只条條位份种種倍款场場])["
    + HAN
    + "])"
)


@dataclass(frozen=True, slots=True)
class FoundDate:
    """A date read off the page; `year` is None for a bare `M月D日`."""

    year: int | None
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0
    tz: timezone = CHINA

    def resolve(self, year: int | None = None) -> datetime | None:
        """The aware datetime, with `year` supplied for a bare date; None when invalid."""
        chosen = self.year if self.year is not None else year
        if chosen is None:
            return None
        try:
            return datetime(
                chosen, self.month, self.day, self.hour, self.minute, self.second, tzinfo=self.tz
            )
        except ValueError:
            return None


def _zone(match: re.Match[str]) -> timezone:
    """The zone printed after the time; China Standard Time when the page names none."""
    if match["H"] is None:
        # A zone without a time is more likely a range or a stray sign: `2024-03-05 -1030`.
        return CHINA
    if match["z"] or (match["u"] and not match["zs"]):
        return UTC
    sign, hours, minutes = (
        (match["zs"], match["zh"], match["zm"])
        if match["zs"]
        else (match["os"], match["oh"], match["om"])
    )
    if not sign:
        return CHINA
    offset = int(hours) * 60 + int(minutes or 0)
    if offset == 8 * 60 and sign == "+":
        return CHINA
    return timezone(timedelta(minutes=-offset if sign == "-" else offset))


def _time_of(match: re.Match[str]) -> tuple[int, int, int]:
    if match["H"] is None:
        return 0, 0, 0
    hour = int(match["H"])
    if match["ampm"] in ("下午", "晚上") and hour < 12:
        hour += 12
    return hour, int(match["M"]), int(match["S"] or 0)


def _build(match: re.Match[str], year: int | None) -> FoundDate | None:
    hour, minute, second = _time_of(match)
    found = FoundDate(year, int(match["m"]), int(match["d"]), hour, minute, second, _zone(match))
    # Reject 2月30日 and friends here, whatever year is supplied later.
    if found.resolve(year if year is not None else 2000) is None:
        return None
    return found


def find_date(line: str) -> FoundDate | None:
    """The first full date (year, month, day, optional time and zone) printed in `line`."""
    for match in FULL_DATE.finditer(line):
        found = _build(match, int(match["y"]))
        if found is not None:
            return found
    return None


def find_bare_date(line: str) -> FoundDate | None:
    """The first `M月D日` in `line` (no year)."""
    for match in BARE_DATE.finditer(line):
        found = _build(match, None)
        if found is not None:
            return found
    return None


def date_spans(line: str) -> list[tuple[int, int]]:
    """Where dates and times sit in `line`, to judge what else the line holds."""
    spans = [m.span() for m in FULL_DATE.finditer(line)] if _DIGIT.search(line) else []
    if not spans and "月" in line:
        spans = [m.span() for m in BARE_DATE.finditer(line)]
    return spans


def url_date(url: str) -> FoundDate | None:
    """A date written in a URL's path (`/2020-06-15/`, `/20200615/`, `/2020/0615/`)."""
    path = url.split("//", 1)[-1].partition("/")[2]
    for match in _URL_DATE.finditer(path):
        found = FoundDate(int(match["y"]), int(match["m"]), int(match["d"]))
        if found.resolve() is not None:
            return found
    return None


def page_year(texts: list[str]) -> int | None:
    """The year the page itself writes most (title first, then later years), or None.

    A title's year (`2020重慶英才大會`) names the event; in the text, history (`2019年以来`)
    is mentioned once or twice, the year of the story again and again (`2024常州人才周`,
    `2024年前三季度`). Never invented: no year written, no year.
    """
    if texts and (match := _YEAR.search(texts[0])) is not None:
        return int(match["y"])
    counts = Counter(int(found["y"]) for text in texts[1:] for found in _YEAR.finditer(text))
    if not counts:
        return None
    return max(counts, key=lambda year: (counts[year], year))
