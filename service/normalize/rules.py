"""Named line rules: page furniture a crawler's innerText dump carries around an article.

Every rule has a name and a one-line reason; `newsdrop parse --explain` prints them. Rules
marked `footer` start the page footer when they follow article text: everything after the
first of them is dropped (related lists, comment blocks and next-article teasers follow).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from service.normalize.chars import HAN, SENTENCE_END, forms, keyword_pattern, zh


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """A named decision about a line, with the one-line reason `--explain` shows.

    Rules compare by identity (`eq=False`): they are singletons, and field-by-field
    equality in `rule in (...)` tests showed up in profiles.
    """

    name: str
    reason: str
    footer: bool = False
    keep: bool = False


BLANK = Rule("blank", "empty line; paragraphs are re-spaced by one blank line")
END_MARKER = Rule("end_marker", "end-of-article marker such as (完) or -END-")
SEPARATOR = Rule("separator", "only punctuation or symbols")
PLACEHOLDER = Rule("placeholder", "the crawler's note that a link, image or video was not captured")
BREADCRUMB = Rule("breadcrumb", "site navigation trail (您的位置, 当前位置, 首页 > ...)")
APP_PROMPT = Rule("app_prompt", "app prompt (…APP, 打开, 下载客户端)")
UI_WORD = Rule("ui_word", "a lone interface word (登录, 分享, 返回, 打印...)")
NAVIGATION = Rule("navigation", "menu or link bar: short items separated by bars or spaces")
LIST_ITEM = Rule("list_item", "short bulleted link outside the article")
PREV_NEXT = Rule("prev_next", "previous/next article link", footer=True)
RELATED = Rule(
    "related_list", "heading of a related, recommended or latest-articles list", footer=True
)
COMMENTS = Rule("comments", "comment block (最新评论, 发表评论, 文明上网...)", footer=True)
EDITOR = Rule(
    "editor_line", "editor or proofreader credit (责任编辑, 校对|...), not an author", footer=True
)
ARTICLE_URL = Rule("article_url", "printed address of this page (本文地址, 原文链接)", footer=True)
COPYRIGHT = Rule("copyright", "copyright or reprint notice", footer=True)
LICENCE = Rule("licence", "ICP, 公网安备 or licence numbers", footer=True)
CONTACT = Rule("contact", "contact address, phone or e-mail of the site", footer=True)
DISCLAIMER = Rule("disclaimer", "disclaimer (免责声明, 不代表本网观点...)", footer=True)
KEYWORDS = Rule("keywords", "keyword or tag line", footer=True)
FOLLOW = Rule("follow_prompt", "scan-to-follow or read-the-original prompt", footer=True)
SHARE = Rule("share_prompt", "share, like or follow prompt")
PAGE_TOOLS = Rule("page_tools", "page tools and counters (字号, 打印, 浏览次数)")

TITLE = Rule("title", "the article title, taken into its own field")
SUBTITLE = Rule("subtitle", "a deck line right under the title, taken into its own field")
TITLE_REPEAT = Rule("title_repeat", "the title printed again")
DATELINE_TITLE = Rule("dateline_title", "dispatch dateline with 题: repeating the title")
ORIGINAL_TITLE = Rule("original_title", "原标题: note of a reprint")
SOURCE_LINE = Rule("source_line", "credits the outlet (来源:), taken into source")
DATE_LINE = Rule("date_line", "publication date line, taken into published_at")
FIELDS_LINE = Rule("meta_fields", "labelled page metadata (作者, 来源, 时间, 浏览...)")
BYLINE = Rule("byline", "credits the authors, taken into authors")
HEADER = Rule("outside_body", "page header before the title block")
AFTER_FOOTER = Rule("after_footer", "after the page footer began")
TRAILING = Rule("trailing_short", "short non-sentence line after the last paragraph")
DUPLICATE = Rule("duplicate", "paragraph already on this page; kept once")
CONTENT = Rule("content", "paragraph of the article body", keep=True)
JOINED = Rule("content_joined", "continues a paragraph broken after a comma-like mark", keep=True)
NO_BODY = Rule("no_body", "no article body found on this page")


def _words(words: str) -> str:
    """`a|b|c` (Simplified) as a trie-shaped regex of every script form."""
    return "(?:" + keyword_pattern(words.split("|")) + ")"


@dataclass(frozen=True, slots=True)
class _Led:
    """A rule for lines that start with one of `heads` (Simplified, `|`-separated)."""

    rule: Rule
    heads: str
    tail: str
    longest: int = 60


@dataclass(frozen=True, slots=True)
class _Loose:
    """A rule whose line may start anywhere; `hint` is a cheap test before the regex.

    Without a hint the line must contain one of _LOOSE_WORDS.
    """

    rule: Rule
    pattern: str
    hint: Callable[[str], bool] | None = None
    longest: int = 60


_EDITOR_ROLES = (
    "责任编辑|值班编辑|流程编辑|网络编辑|本文编辑|文字编辑|图片编辑|视频编辑|责编|编辑|校对"
    "|审核|审校|校审|一审|二审|三审|终审|复审|初审|监制|统筹|美编|出品人|出品|策划|主编|总编"
    "|制作人|编审|排版|签发"
)
_RELATED_WORDS = (
    "相关推荐|热门推荐|精彩推荐|随机阅读|最近发表|最新文章|相关文章|相关阅读|相关新闻|相关报道"
    "|推荐阅读|延伸阅读|往期推荐|往期回顾|往期精彩|猜你喜欢|热点新闻|热门文章|热门新闻"
    "|热门阅读|图片新闻|查看更多|更多新闻|更多精彩|更多资讯|大家都在看|为你推荐|今日推荐"
    "|编辑推荐|热点推荐|排行榜|热门排行|点击排行|阅读排行|新闻排行|最新资讯|最新新闻|相关专题"
)
_RELATED_TAIL = r"\s*[】\]]?\s*[>»:：]*\s*(?:MORE|More|more)?\s*[>»]*$"
_TOOL_WORDS = "字号|字体|打印本页|打印|关闭窗口|浏览次数|阅读量|阅读数|点击数|点击量|浏览量|阅读"
_TOOL_TAIL = (
    r"\s*[:：]?\s*(?:[大中小]|\d+|[\s【】\[\]|]|"
    + _words("次|打印|本页|本文|关闭|窗口|默认|字体|字号|收藏|分享")
    + r")*$"
)
_BRACKETS_OPEN = "【|[|(|（"
_CONTACT_LABELS = "地址|电话|邮编|传真|邮箱|E-mail|Email|Tel|TEL|Fax"


# Loose rules without a cheap hint need one of these words; one search finds out for all.
_LOOSE_WORDS = "文明上网|法律顾问|长按|扫描|扫一扫|扫码|点击上方"


# Rules for a line's start, in priority order: the first that matches decides. Lines
# longer than `longest` are not tried, so most paragraphs cost a dictionary lookup.
_LED: tuple[_Led, ...] = (
    _Led(
        END_MARKER, "(|（|【|[", r"\s*" + _words("全文完|完|待续|未完待续|结束") + r"\s*[)）】\]]$"
    ),
    _Led(
        BREADCRUMB,
        "您的位置|你的位置|您现在的位置|你现在的位置|当前位置|现在位置|所在位置|位置|导航",
        r"\s*[:：]",
        120,
    ),
    _Led(BREADCRUMB, "首页|主页|网站首页|Home", r"\s*(?:>|»|＞|→)", 120),
    _Led(
        APP_PROMPT,
        "立即|马上|点击|请|打开|下载|安装",
        r"(?:" + _words("打开|下载|安装") + r")?(?:APP|App|" + _words("客户端|应用") + r")?"
        r"(?:" + _words("阅读|查看|观看") + r")?(?:" + _words("全文|原文|更多") + r")?$",
    ),
    _Led(
        UI_WORD,
        "登录|注册|搜索|首页|返回|菜单|更多|收藏|举报|举报/反馈|反馈|我要反馈|关闭|打印|打印/关闭"
        "|目录|导航|订阅|关注|取消|确定|展开"
        "|收起|全文|展开全文|查看全文|阅读全文|加载更多|点击加载更多|返回顶部|回到顶部|返回首页"
        "|返回列表|顶部|广告|置顶|刷新|微信|微博|朋友圈|QQ空间|复制链接|点击关闭提示|关闭提示"
        "|纠错|我要纠错|打印本页",
        r"[\s>»]*$",
    ),
    _Led(
        PREV_NEXT,
        "上一篇|下一篇|上一页|下一页|上篇|下篇|Next Article|Previous Article|Next|Prev|Previous",
        r"\s*(?:[:：>»].{0,60})?$",
        80,
    ),
    _Led(RELATED, _RELATED_WORDS, _RELATED_TAIL),
    # `返回搜狐，查看更多`: back to the portal, more of it below.
    _Led(RELATED, "返回", r".{1,10}?[，,\s]*" + _words("查看更多|看更多|更多精彩") + r".{0,4}$"),
    _Led(RELATED, "-|·|•|【|[", r"[-·•【\[\s]*" + _words(_RELATED_WORDS) + _RELATED_TAIL),
    _Led(
        COMMENTS,
        "最新评论|热门评论|网友评论|发表评论|我要评论|全部评论|评论区|精彩评论|查看评论"
        "|查看更多评论|打开APP查看更多评论|登录后发表评论|暂无评论|写评论|写下你的评论",
        r".{0,12}$",
    ),
    _Led(COMMENTS, "已有", r"\d+" + _words("人参与")),
    _Led(COMMENTS, "评论", r"\s*[(（]?\d*[)）]?$"),
    _Led(EDITOR, _EDITOR_ROLES, r"\s*[：:|丨/\s].{0,40}$"),
    _Led(EDITOR, _BRACKETS_OPEN, r"\s*" + _words(_EDITOR_ROLES) + r"\s*[：:|丨/\s].{0,40}$"),
    _Led(
        ARTICLE_URL,
        "本文地址|原文链接|原文连结|原文地址|本文链接|文章链接|文章地址|网址|链接|URL|Url|url",
        r"\s*[:：]\s*https?://",
        400,
    ),
    _Led(ARTICLE_URL, "http", r"s?://\S+$", 400),
    _Led(
        CONTACT,
        "联系地址|联系电话|联系我们|联系方式|联络我们|客服QQ|客服电话|客服热线|投稿邮箱|投稿信箱"
        "|通讯地址|法律顾问|新闻热线|值班电话|报料热线|新闻报料",
        r"\s*[:：]",
        200,
    ),
    # A bare `地址:` or `电话:` may be part of a notice's text (where to go, whom to call);
    # two or more such labels on one line are the site's contact footer.
    _Led(
        CONTACT,
        _CONTACT_LABELS,
        r"\s*[:：].{0,60}?(?:" + _words(_CONTACT_LABELS) + r")\s*[:：]",
        200,
    ),
    _Led(KEYWORDS, "文章关键词|关键词|关键字|标签|Tags|Tag|TAG", r"\s*[:：]", 200),
    _Led(
        DISCLAIMER,
        "免责声明|版权免责声明|特别声明|郑重声明|版权声明|转载声明",
        r"(?:\s|[:：]|$)",
        400,
    ),
    # A plain `声明：` opens quoted statements too; the site's own names its reprints.
    _Led(
        DISCLAIMER,
        "声明",
        r"\s*[:：].{0,40}?" + _words("本网|本站|平台|转载|观点|作者|仅代表|来源|版权"),
        400,
    ),
    _Led(
        FOLLOW,
        "长按|扫描|扫一扫|扫码|识别|微信扫",
        r".{0,6}" + _words("二维码|关注|识别|下载"),
        80,
    ),
    _Led(FOLLOW, "阅读原文|点击阅读原文|关注我们|微信号|公众号", r"[:：\s]?.{0,30}$"),
    _Led(SHARE, "分享到|分享至|转发到|转发至", r"[:：]?.{0,20}$"),
    _Led(SHARE, "分享|转发|点赞|在看|赞赏|打赏|收藏", r"[:：]?\s*\d*$"),
    _Led(SHARE, "喜欢就按个赞|点个在看|喜欢请点赞", r".{0,20}$"),
    _Led(
        SHARE,
        "喜欢|觉得不错|觉得好看|如果喜欢",
        r"[^。]{0,10}" + _words("在看|点赞|按个赞|点个赞|分享|转发|关注") + r"[^。]{0,10}$",
    ),
    _Led(PAGE_TOOLS, _TOOL_WORDS, _TOOL_TAIL),
    # `发布于：北京市`, `IP属地：上海`: where the post was sent from, not a date.
    _Led(PAGE_TOOLS, "发布于|发表于|IP属地", r"[:：]?\s*[^\d]{1,12}$"),
    _Led(PAGE_TOOLS, "【|[", r"\s*" + _words(_TOOL_WORDS) + _TOOL_TAIL),
)
_LOOSE: tuple[_Loose, ...] = (
    _Loose(
        END_MARKER,
        r"[-—－=]*\s*(?:END|" + zh("完") + r")\s*[-—－=]*$",
        lambda text: len(text) <= 12,
    ),
    _Loose(
        SEPARATOR,
        r"[^\w" + HAN + r"]+$",
        lambda text: not text[0].isalnum(),
        longest=400,
    ),
    _Loose(
        APP_PROMPT,
        r".{0,16}(?:APP|App|app|" + _words("客户端") + r")$",
        lambda text: text.endswith(("APP", "App", "app", "端")),
    ),
    _Loose(COMMENTS, r"\d+\s*" + _words("条评论") + r".{0,8}$", lambda text: text[0].isdigit()),
    # A bare counter (likes, shares, comments) left by an icon row.
    _Loose(PAGE_TOOLS, r"[\d.,万wkK+]{1,8}$", lambda text: text[0].isdigit(), longest=8),
    _Loose(
        COMMENTS,
        r".{0,10}" + _words("文明上网") + r".{0,10}" + _words("理性发言"),
        longest=80,
    ),
    _Loose(
        CONTACT,
        r"[^，。,]{0,12}" + _words("法律顾问") + r"\s*[:：].{0,40}$",
    ),
    _Loose(
        FOLLOW,
        r".{0,12}?"
        + _words("长按|扫描|扫一扫|扫码")
        + r".{0,12}"
        + _words("二维码|关注|下载|打开|阅读|浏览")
        + r".{0,20}$",
    ),
    _Loose(
        SHARE,
        r".{0,10}" + _words("点击上方") + r".{0,16}" + _words("关注|订阅") + r".{0,20}$",
    ),
)


def _led_patterns() -> dict[str, re.Pattern[str]]:
    """One compiled alternation per first character, holding only the rules led by it."""
    by_char: dict[str, list[int]] = {}
    for index, led in enumerate(_LED):
        heads = {form[0] for word in led.heads.split("|") for form in forms(word)}
        for char in heads:
            by_char.setdefault(char, []).append(index)
    compiled: dict[tuple[int, ...], re.Pattern[str]] = {}
    patterns = {}
    for char, indexes in by_char.items():
        key = tuple(indexes)
        if key not in compiled:
            compiled[key] = re.compile(
                "|".join(f"(?P<r{i}>{_words(_LED[i].heads)}{_LED[i].tail})" for i in indexes)
            )
        patterns[char] = compiled[key]
    return patterns


_BY_FIRST_CHAR = _led_patterns()
# Plain tuples, unpacked in the loop: attribute lookups on every rule for every line showed
# up in profiles.
_LOOSE_RE = tuple(
    (loose.rule, re.compile(loose.pattern), loose.longest, loose.hint) for loose in _LOOSE
)
# Longer lines only meet the few loose rules that allow them.
_LOOSE_SHORT = max(loose.longest for loose in _LOOSE if loose.longest < 400)
_LOOSE_LONG_RE = tuple(entry for entry in _LOOSE_RE if entry[2] >= 400)
_LOOSE_WORDS_RE = re.compile(keyword_pattern(_LOOSE_WORDS.split("|")))


def _classify_start(text: str) -> Rule | None:
    pattern = _BY_FIRST_CHAR.get(text[0])
    if pattern is not None:
        match = pattern.match(text)
        if match is not None and match.lastgroup is not None:
            led = _LED[int(match.lastgroup[1:])]
            if len(text) <= led.longest:
                return led.rule
    size = len(text)
    has_word: bool | None = None
    for rule, compiled, longest, hint in _LOOSE_RE if size <= _LOOSE_SHORT else _LOOSE_LONG_RE:
        if size > longest:
            continue
        if hint is None:
            if has_word is None:
                has_word = _LOOSE_WORDS_RE.search(text) is not None
            if not has_word:
                continue
        elif not hint(text):
            continue
        if compiled.match(text):
            return rule
    return None


# Keywords found anywhere in a line, with the longest line each may condemn: a notice can be
# long, but `(编辑：刘畅)` at the end of a long paragraph is a signature, not a line to drop.
# Keywords are separated by `/` so that they may contain spaces.
_ANYWHERE: tuple[tuple[Rule, int, str], ...] = (
    (
        PLACEHOLDER,
        80,
        "此处为链接/此处为连结/此处为视频/此处为图片/此处为音频/此处为影片/暂不支持采集/暂不支援采集"
        "/未采集/链接未抓取/图片加载中/视频加载中/【图片】/【视频】/[图片]/[视频]",
    ),
    (
        LICENCE,
        240,
        "ICP备/ICP证/ICP:/ICP：/公网安备/网安备/增值电信业务经营许可证/新闻信息服务许可证"
        "/广播电视节目制作经营许可证/信息网络传播视听节目许可证/网络文化经营许可证/网站标识码"
        "/违法和不良信息举报/举报电话/举报邮箱/主办单位:/主办单位：/承办单位:/承办单位："
        "/主管单位:/主管单位：/技术支持:/技术支持：",
    ),
    (
        COPYRIGHT,
        240,
        "Copyright/COPYRIGHT/©/(c) 2/(C) 2/(c)2/(C)2/All Rights Reserved/版权所有/保留所有权利"
        "/本网站所刊载/本站所刊载/转载请注明出处/转载请注明来源/未经授权不得转载/未经授权禁止转载"
        "/未经本网授权/未经许可不得转载/禁止转载",
    ),
    (
        DISCLAIMER,
        240,
        "本文仅代表作者/不代表本网/不代表本站/如有侵权/凡本网注明/凡本网未注明/文章内容仅供参考",
    ),
    (
        EDITOR,
        40,
        "【责任编辑/[责任编辑/(责任编辑/（责任编辑/【责编/(责编/（责编/【编辑/(编辑:/(编辑：/（编辑：",
    ),
)
_SEARCH_MAX = 240

_KEYWORD_RULE = {
    form: (rule, limit)
    for rule, limit, words in _ANYWHERE
    for word in words.split("/")
    for form in forms(word)
}
_KEYWORDS_RE = re.compile(keyword_pattern(list(_KEYWORD_RULE), expand=False))

# Bars between short items: `关于我们(About Us) | 工作人员查询 | 免责声明 | 广告服务`.
_BAR = re.compile(r"\s*[|｜]\s*")
_ARROW = re.compile(r"\s*(?:>>|>|»|＞|→)\s*")
# Whether _ARROW occurs at all: a pattern led by `\s*` is tried at every position of a line.
_ARROW_MARK = re.compile("[>»＞→]")
_BULLET = re.compile(r"^[-·•▪◆◇►▶]\s*")
_CREDIT_WORD = re.compile(zh("记者|通讯员|作者|撰文|摄影|编辑|实习生|[文图摄][/|丨:：]"))
_SENTENCE_MARK = re.compile(f"[{SENTENCE_END}，,；;]")
# What may follow the mark that ends a sentence: closing quotes and brackets.
AFTER_END = "”’」』）)】》〕 \t"


def ends_sentence(text: str) -> bool:
    """True when the line ends like a sentence (`。`, `！`, `？`, possibly before a quote)."""
    # A look at the last characters, not a regex: this runs several times on every line.
    stripped = text.rstrip(AFTER_END)
    return bool(stripped) and stripped[-1] in SENTENCE_END


def _is_bar(text: str) -> bool:
    items = [item for item in _BAR.split(text) if item]
    return len(items) >= 3 and max(map(len, items)) <= 16


def _is_trail(text: str) -> bool:
    # `人民网 >> 经济·科技 >> 正文`, `长江日报 > 武汉新闻`: short items between arrows (two
    # items means an arrow split them).
    items = [item for item in _ARROW.split(text) if item]
    return len(items) >= 2 and max(map(len, items)) <= 14 and _SENTENCE_MARK.search(text) is None


def _is_menu(text: str) -> bool:
    # `首页 新闻 体育 财经 娱乐`: many very short items, nothing that reads as a sentence;
    # `记者 王五 赵六 通讯员 孙七` has the same shape and is a byline.
    items = text.split(" ")
    return (
        len(items) >= 4
        and max(map(len, items)) <= 4
        and _SENTENCE_MARK.search(text) is None
        and _CREDIT_WORD.search(text) is None
    )


class LineRules:
    """Furniture rules for a page's lines, decided in order and only as far as asked.

    Lines after the footer starts are rarely needed (a third of a seed page on average),
    so they are classified only for `--explain`. Items under a list heading go with it.
    """

    def __init__(self, texts: list[str], after_blank: list[bool] | None = None) -> None:
        self._texts = texts
        self._after_blank = after_blank
        self.rules: list[Rule | None] = []
        self._in_list = False

    def upto(self, end: int) -> list[Rule | None]:
        """Classify every line before `end`; returns the rules decided so far."""
        for index in range(len(self.rules), min(end, len(self._texts))):
            text = self._texts[index]
            if not text or (self._after_blank is not None and self._after_blank[index]):
                # A blank line ends a list.
                self._in_list = False
            rule = classify(text) if text else BLANK
            if rule is RELATED:
                self._in_list = True
            elif self._in_list and rule is None and not ends_sentence(text):
                rule = LIST_ITEM
            self.rules.append(rule)
        return self.rules


def classify_lines(texts: list[str]) -> list[Rule | None]:
    """Furniture rules for all of a page's lines (blank ones included)."""
    return LineRules(texts).upto(len(texts))


def classify(text: str) -> Rule | None:
    """The furniture rule a line (spaces collapsed) matches, or None for possible article text."""
    rule = _classify_start(text)
    if rule is not None:
        return rule
    if len(text) <= _SEARCH_MAX:
        for found in _KEYWORDS_RE.finditer(text):
            rule, limit = _KEYWORD_RULE[found.group()]
            if len(text) <= limit:
                return rule
        if len(text) <= 80 and _ARROW_MARK.search(text) and _is_trail(text):
            return BREADCRUMB
        if len(text) <= 120 and ("|" in text or "｜" in text) and _is_bar(text):
            return NAVIGATION
        if " " in text and len(text) <= 60 and _is_menu(text):
            return NAVIGATION
        if len(text) <= 40 and _BULLET.match(text) and _SENTENCE_MARK.search(text) is None:
            return LIST_ITEM
    return None
