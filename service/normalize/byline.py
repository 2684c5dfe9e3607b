"""Bylines, trailing signatures and datelines: who wrote it, for which outlet, from where."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.normalize.chars import HAN, keyword_pattern, zh

# Roles that credit an author of the text or its pictures.
_AUTHOR_ROLES = zh(
    "本报记者|本报特约记者|特约记者|见习记者|实习记者|首席记者|记者|通讯员|实习生|撰文|文字|文图"
    "|图文|图片|图|摄影|摄像|摄|视频|作者|采写|口述|整理|编译|翻译|插画|海报|设计|制图|绘图|文"
)
# Roles that credit the desk, not the author: their names never become authors.
_EDITOR_ROLES = zh(
    "责任编辑|值班编辑|责编|编辑|校对|审核|审校|一审|二审|三审|终审|监制|统筹|美编|出品人|出品"
    "|策划|主编|总编|制作人|制作|复审|初审|编审"
)
# Any role word at all: one literal search rejects most lines before the token scan.
_ROLE_WORDS = (
    "记者|通讯员|实习生|撰文|文字|图片|摄影|摄像|作者|采写|口述|整理|编译|翻译|插画|海报"
    "|设计|制图|绘图|编辑|责编|校对|审核|审校|监制|统筹|美编|出品|策划|主编|总编|制作"
    "|编审|审|文|图|摄|视频"
)
_ROLE_HINT = re.compile(keyword_pattern(_ROLE_WORDS.split("|")))
_ROLE = re.compile(f"(?P<editor>{_EDITOR_ROLES})|(?P<author>{_AUTHOR_ROLES})")
_DECOR = re.compile(r"^[◎●■□★☆◆◇▲△▼○•·※|\-—–>»\s]+")
_BRACKETS = "()（）【】[]〔〕<>《》"
# `衣濤/文 邢志峰/圖`: the name before its role, swapped into `文/衣濤` for the scanner.
_NAME_THEN_ROLE = re.compile(
    f"([{HAN}·]{{2,6}})\\s*[/|丨]\\s*({zh('文|图|摄影|摄|视频|撰文')})(?![{HAN}])"
)
_TOKEN = re.compile(
    f"(?P<role>{_EDITOR_ROLES}|{_AUTHOR_ROLES})(?=[\\s|丨/:：、,，;；{HAN}·]|$)"
    f"|(?P<name>[{HAN}][{HAN}·]{{1,11}})"
    r"|(?P<sep>[\s|丨/:：、,，;；]+)"
    r"|(?P<other>.)"
)
# Words that stand where a name would but are not one.
_NOT_NAME = re.compile(
    zh(
        "(?:报道|报导|发自|综合|本报|本台|本网|本刊|来源|通讯|供图|资料图|资料|视频|记者|编辑|联合"
        "|出品|制作|部分|特约|见习|实习|新华社|中新社|新华网|人民网|中新网|央视网|客户端|微信|公众号"
        "|报社|融媒|综述|评论员|本报评论员|署名|网友|作者|摄影|图片|文字)"
    )
)
# Names are two to four ideographs, or longer with a middle dot (阿卜杜拉·艾尼).
_NAME = re.compile(f"[{HAN}]{{2,4}}|[{HAN}]{{1,6}}·[{HAN}·]{{1,10}}")
# The outlet in front of 记者 (`徐报融媒记者`, `青島日報/觀海新聞記者`); 本报 is no outlet.
_ORG_REPORTER = re.compile(
    f"^(?P<org>[{HAN}A-Za-z0-9/·]{{2,24}}?)(?P<role>{zh('记者|通讯员')})(?=[\\s:：|丨]|[{HAN}])"
)
_NOT_OUTLETS = re.compile(zh("^(本报|本台|本网|本刊|本站|特约|见习|实习|首席|驻.*|.*本报)$"))

# Common surnames, Simplified and Traditional, for telling `(李慧敏)` from `(上海)`.
_SURNAMES = frozenset(
    "王李张張刘劉陈陳杨楊黄黃赵趙吴吳周徐孙孫马馬朱胡郭何林罗羅高郑鄭梁谢謝宋唐许許韩韓冯馮邓鄧"
    "曹彭曾萧蕭肖田董潘袁蔡蒋蔣余于杜叶葉程魏苏蘇吕呂丁任卢盧姚沈钟鍾姜崔谭譚陆陸范汪廖石金"
    "韦韋贾賈夏付傅方邹鄒熊白孟秦邱侯江尹薛阎閻段雷龙龍黎史陶贺賀毛郝顾顧龚龔邵万萬覃武钱錢"
    "戴严嚴欧歐莫孔向常汤湯康易乔喬赖賴文施洪辛柯庄莊葛邬鄔牛樊安齐齊童庞龐颜顏倪柳凌祝包宁寧"
    "骆駱尚管鲁魯殷季费費卓蒲邢华華单單左纪紀伍耿聂聶翟关關苗焦温溫尤鲍鮑路褚甘游俞曲宫宮"
    "岳栾欒霍滕桂娄婁卫衛解车車边邊阮房裴鞠仇虞涂闫閆戚郁屈祁闵閔甄池景麦麥蓝藍冉梅刁谷巫"
)
_COMPOUNDS = (
    "欧阳 歐陽 司马 司馬 上官 诸葛 諸葛 东方 東方 皇甫 尉迟 尉遲 公孙 公孫 慕容 令狐 夏侯 长孙"
    " 長孫 宇文 司徒 端木 申屠 轩辕 軒轅 独孤 獨孤 南宫 南宮 西门 西門 呼延 完颜 完顏"
)
_COMPOUND_SURNAMES = frozenset(_COMPOUNDS.split(" "))

# End-of-article markers: `(完)`, `（全文完）`, `【完】`, `-END-`.
END_MARKER = re.compile(
    "\\s*(?:[(（【\\[]\\s*(?:" + zh("全文完|完|待续|未完待续|结束|终") + ")\\s*[)）】\\]]"
    "|[-—－]+\\s*(?:END|" + zh("完") + ")\\s*[-—－]+|\\bEND\\b)\\s*$"
)
# The last character of every end marker END_MARKER knows; anything else needs no regex.
_MARKER_LAST = frozenset(")）】]-—－=D完")
_TRAILING_BRACKET = re.compile(
    r"\s*[(（【\[]\s*(?P<inner>[^()（）【】\[\]]{2,48}?)\s*[)）】\]]\s*$"
)

# Known outlets first: a generic `…网/社/报/台` would swallow a place such as 烟台 or 台州.
_KNOWN_OUTLETS = zh(
    "新华社|中新社|中新网|中国新闻网|人民网|人民日报|央视网|央视新闻客户端|央视新闻|中国网|光明网"
    "|光明日报|环球网|环球时报|澎湃新闻|新京报|经济日报|中国日报网|中国日报|中国青年报|中青网"
    "|科技日报|工人日报|法治日报|北京日报|解放日报|文汇报|南方日报|国际在线|中国日报|中央广电总台"
    "|本报|本台|本网|本刊"
)
_OUTLET = f"(?:{_KNOWN_OUTLETS}|[{HAN}]{{1,12}}(?:{zh('客户端|新闻|网|社|报|台')}))"
# `新华社北京3月5日电(记者 张三 李四)`, `中新网常州11月9日电 题:…`, `中國網10月26日訊`.
DATELINE = re.compile(
    f"^(?:{zh('据')})?(?P<outlet>{_OUTLET})(?P<place>[{HAN}]{{2,8}}?)?"
    f"(?P<month>1[0-2]|0?[1-9])月(?P<day>3[01]|[12]\\d|0?[1-9])日(?:{zh('电|讯|消息|报道')})"
    f"(?:\\s*[(（](?P<byline>[^()（）]{{1,60}})[)）])?"
    f"(?:\\s*{zh('题')}\\s*[:：]\\s*(?P<title>.+))?\\s*"
)
# `本报讯(记者 张三 通讯员 李四)`, a lone `(记者 张三)` or `（香港商報訊）` opening a paragraph.
LEAD_CREDIT = re.compile(
    f"^(?:(?P<outlet>{_OUTLET})?{zh('讯')})?\\s*[(（](?P<byline>(?:{_AUTHOR_ROLES})[^()（）]{{1,60}})[)）]\\s*"
    f"|^[(（【](?P<house>{_OUTLET})(?:{zh('讯|电')})[)）】]\\s*"
)


# `（中央社記者陳怡君台北1日電）`: outlet, reporter, place and day in one run, no spaces.
REPORTER_DATELINE = re.compile(
    f"^[(（]?(?P<outlet>{_OUTLET})?(?:{zh('特约记者|记者')})"
    f"(?P<names>[{HAN}]{{2,3}}(?:、[{HAN}]{{2,3}})*)(?P<place>[{HAN}]{{2,4}}?)"
    f"(?:(?P<month>1[0-2]|0?[1-9])月)?(?P<day>3[01]|[12]\\d|0?[1-9])日(?:{zh('电|讯')})[)）]?\\s*"
)


@dataclass(frozen=True, slots=True)
class Byline:
    """Names credited as authors and the outlet named in front of 记者, if any."""

    authors: tuple[str, ...]
    source: str | None


@dataclass(frozen=True, slots=True)
class Dateline:
    """A dispatch line: outlet, place, month and day, authors, and the rest of the paragraph."""

    outlet: str | None
    place: str | None
    month: int | None
    day: int
    authors: tuple[str, ...]
    title: str | None
    rest: str


def is_name(text: str) -> bool:
    """True for something shaped like a personal name and not a known non-name word."""
    return _NAME.fullmatch(text) is not None and _NOT_NAME.fullmatch(text) is None


def looks_like_person(text: str) -> bool:
    """A name that also starts with a common surname: evidence enough for a bare `(李慧敏)`."""
    return is_name(text) and (text[0] in _SURNAMES or text[:2] in _COMPOUND_SURNAMES)


def _outlet(org: str) -> str | None:
    org = org.strip("/· ")
    if not org or _NOT_OUTLETS.match(org):
        return None
    # `青島日報/觀海新聞`: the newspaper first, its app or desk after the slash.
    return org.split("/")[0] or None


def parse_byline(text: str, *, require_role: bool = True) -> Byline | None:
    """Read a credit line (`撰文|周宇`, `◎徐报融媒记者 范海杰`, `文/X 图/Y`) or return None."""
    if require_role and _ROLE_HINT.search(text) is None:
        return None
    # 丨 (U+4E28) is an ideograph to the regex engine but a bar to the eye.
    body = text.replace("丨", "|").replace("｜", "|")
    body = _DECOR.sub("", body.strip()).strip(_BRACKETS + " ")
    if not body or len(body) > 80:
        return None
    source = None
    org = _ORG_REPORTER.match(body)
    if org is not None:
        source = _outlet(org["org"])
        if source is not None or _NOT_OUTLETS.match(org["org"]):
            body = body[org.start("role") :]
    body = _NAME_THEN_ROLE.sub(r"\2/\1", body)
    authors: list[str] = []
    roles = stray = 0
    crediting = not require_role
    for token in _TOKEN.finditer(body):
        kind = token.lastgroup
        value = token.group()
        if kind == "role":
            roles += 1
            role = _ROLE.fullmatch(value)
            crediting = role is not None and role["author"] is not None
        elif kind == "name":
            if is_name(value):
                if crediting and value not in authors:
                    authors.append(value)
            else:
                stray += len(value)
        elif kind == "other":
            stray += 1
    if (require_role and roles == 0) or stray > 2:
        return None
    if not authors and roles == 0:
        return None
    return Byline(tuple(authors), source)


def _reporter_dateline(paragraph: str) -> Dateline | None:
    match = REPORTER_DATELINE.match(paragraph)
    if match is None:
        return None
    names = tuple(name for name in match["names"].split("、") if is_name(name))
    return Dateline(
        outlet=_outlet(match["outlet"]) if match["outlet"] else None,
        place=match["place"],
        month=int(match["month"]) if match["month"] else None,
        day=int(match["day"]),
        authors=names,
        title=None,
        rest=paragraph[match.end() :],
    )


def parse_dateline(paragraph: str) -> Dateline | None:
    """Read a dispatch dateline at the start of a paragraph, or return None."""
    match = DATELINE.match(paragraph)
    if match is None:
        return _reporter_dateline(paragraph)
    outlet = _outlet(match["outlet"])
    authors: tuple[str, ...] = ()
    if match["byline"]:
        credit = parse_byline(match["byline"])
        authors = credit.authors if credit is not None else ()
    title = match["title"].strip() if match["title"] else None
    rest = "" if title is not None else paragraph[match.end() :]
    return Dateline(
        outlet=outlet,
        place=match["place"] or None,
        month=int(match["month"]),
        day=int(match["day"]),
        authors=authors,
        title=title,
        rest=rest,
    )


def strip_end_marker(paragraph: str) -> tuple[str, bool]:
    """Remove a trailing `(完)`-style end marker."""
    tail = paragraph.rstrip()
    if not tail or tail[-1] not in _MARKER_LAST:
        return paragraph, False
    stripped = END_MARKER.sub("", paragraph)
    return stripped, stripped != paragraph


def split_signature(paragraph: str) -> tuple[str, tuple[str, ...], bool]:
    """Take a trailing credit in brackets off a paragraph: `…发展。(李慧敏)`.

    Returns the paragraph, the authors named, and whether anything was removed (an editor
    credit such as `(编辑 张三)` is removed without naming authors).
    """
    tail = paragraph.rstrip()
    if not tail or tail[-1] not in ")）】]":
        return paragraph, (), False
    match = _TRAILING_BRACKET.search(paragraph, max(0, len(tail) - 64))
    if match is None:
        return paragraph, (), False
    inner = match["inner"]
    head = paragraph[: match.start()]
    names = inner.split()
    if names and all(looks_like_person(name) for name in names) and len(names) <= 4:
        return head, tuple(names), True
    credit = parse_byline(inner)
    if credit is None:
        return paragraph, (), False
    return head, credit.authors, True
