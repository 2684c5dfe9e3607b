"""Named line rules: page furniture a crawler's innerText dump carries around an article.

Every rule has a name and a one-line reason; `newsdrop parse --explain` prints them. Rules
marked `footer` start the page footer when they follow article text: everything after the
first of them is dropped (related lists, comment blocks and next-article teasers follow).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.normalize.chars import CJK_PUNCT, HAN, SENTENCE_END, zh


@dataclass(frozen=True, slots=True)
class Rule:
    """A named decision about a line, with the one-line reason `--explain` shows."""

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


def _any(words: str) -> str:
    return "(?:" + zh(words) + ")"


# Each pattern is matched at the start of a line; the first that matches decides.
_ANCHORED: tuple[tuple[Rule, str], ...] = (
    (
        END_MARKER,
        r"[(（【\[]\s*" + _any("全文完|完|待续|未完待续|结束") + r"\s*[)）】\]]$"
        r"|[-—－=]*\s*(?:END|" + zh("完") + r")\s*[-—－=]*$",
    ),
    (SEPARATOR, r"[^\w" + HAN + r"]+$"),
    (
        BREADCRUMB,
        _any("您的位置|你的位置|您现在的位置|你现在的位置|当前位置|现在位置|所在位置|位置|导航")
        + r"\s*[:：]"
        r"|(?:" + _any("首页|主页|网站首页") + r"|Home)\s*(?:>|»|＞|→)",
    ),
    (
        APP_PROMPT,
        r".{0,16}(?:APP|App|app|" + zh("客户端") + r")$"
        r"|(?:"
        + _any("立即|马上|点击|请")
        + r")?"
        + _any("打开|下载|安装")
        + r"(?:APP|App|"
        + zh("客户端|应用")
        + r")?(?:"
        + zh("阅读|查看|观看")
        + r")?"
        + r"(?:"
        + zh("全文|原文|更多")
        + r")?$",
    ),
    (
        UI_WORD,
        _any(
            "登录|注册|搜索|首页|返回|菜单|更多|收藏|举报|关闭|打印|目录|导航|订阅|取消|确定|展开"
            "|收起|全文|展开全文|查看全文|阅读全文|加载更多|点击加载更多|返回顶部|回到顶部|返回首页"
            "|返回列表|顶部|广告|置顶|刷新|微信|微博|朋友圈|QQ空间|复制链接|点击关闭提示|关闭提示"
            "|纠错|我要纠错|打印本页"
        )
        + r"[\s>»]*$",
    ),
    (
        PREV_NEXT,
        r"(?:"
        + _any("上一篇|下一篇|上一页|下一页|上篇|下篇")
        + r"|Next Article|Previous Article|Next|Prev|Previous)\s*(?:[:：>»].{0,60})?$",
    ),
    (
        RELATED,
        r"[-·•【\[\s]*"
        + _any(
            "相关推荐|热门推荐|精彩推荐|随机阅读|最近发表|最新文章|相关文章|相关阅读|相关新闻|相关报道"
            "|推荐阅读|延伸阅读|往期推荐|往期回顾|往期精彩|猜你喜欢|热点新闻|热门文章|热门新闻"
            "|热门阅读|图片新闻|查看更多|更多新闻|更多精彩|更多资讯|大家都在看|为你推荐|今日推荐"
            "|编辑推荐|热点推荐|排行榜|热门排行|点击排行|阅读排行|新闻排行|最新资讯|最新新闻|相关专题"
        )
        + r"\s*[】\]]?\s*[>»:：]*\s*(?:MORE|More|more)?\s*[>»]*$",
    ),
    (
        COMMENTS,
        _any(
            "最新评论|热门评论|网友评论|发表评论|我要评论|全部评论|评论区|精彩评论|查看评论"
            "|查看更多评论|打开APP查看更多评论|登录后发表评论|暂无评论|写评论|写下你的评论"
        )
        + r".{0,12}$|\d+\s*"
        + zh("条评论")
        + r".{0,8}$|"
        + zh("已有")
        + r"\d+"
        + zh("人参与")
        + r"|"
        + zh("评论")
        + r"\s*[(（]?\d*[)）]?$|.{0,10}"
        + zh("文明上网")
        + r".{0,10}"
        + zh("理性发言"),
    ),
    (
        EDITOR,
        r"[【\[(（]?\s*"
        + _any(
            "责任编辑|值班编辑|流程编辑|网络编辑|本文编辑|文字编辑|图片编辑|视频编辑|责编|编辑|校对"
            "|审核|审校|校审|一审|二审|三审|终审|复审|初审|监制|统筹|美编|出品人|出品|策划|主编|总编"
            "|制作人|编审|排版|签发"
        )
        + r"\s*[：:|丨/\s].{0,40}$",
    ),
    (
        ARTICLE_URL,
        _any("本文地址|原文链接|原文连结|原文地址|本文链接|文章链接|文章地址|网址|链接")
        + r"\s*[:：]\s*https?://|(?:URL|Url|url)\s*[:：]\s*https?://|https?://\S+$",
    ),
    (
        CONTACT,
        _any(
            "联系地址|联系电话|联系我们|联系方式|联络我们|客服QQ|客服电话|客服热线|投稿邮箱|投稿信箱"
            "|通讯地址|地址|电话|邮编|传真|邮箱|法律顾问|新闻热线|值班电话"
        )
        + r"\s*[:：]|(?:E-?mail|Email|Tel|TEL|Fax)\s*[:：]"
        + r"|[^，。,]{0,12}"
        + zh("法律顾问")
        + r"\s*[:：].{0,40}$",
    ),
    (KEYWORDS, _any("文章关键词|关键词|关键字|标签") + r"\s*[:：]|(?:Tags?|TAG)\s*[:：]"),
    (
        DISCLAIMER,
        _any("免责声明|版权免责声明|特别声明|郑重声明|声明|版权声明|转载声明") + r"(?:\s|[:：]|$)",
    ),
    (
        FOLLOW,
        _any("长按|扫描|扫一扫|扫码|识别|微信扫")
        + r".{0,6}"
        + _any("二维码|关注|识别|下载")
        + r"|.{0,12}?"
        + _any("长按|扫描|扫一扫|扫码")
        + r".{0,12}"
        + _any("二维码|关注|下载|打开|阅读|浏览")
        + r".{0,20}$|"
        + _any("阅读原文|点击阅读原文|关注我们|微信号|公众号")
        + r"[:：\s]?.{0,30}$",
    ),
    (
        SHARE,
        _any("分享到|分享至|转发到|转发至")
        + r"[:：]?.{0,20}$"
        + r"|"
        + _any("分享|转发|点赞|在看|赞赏|打赏|收藏")
        + r"[:：]?\s*\d*$"
        + r"|"
        + _any("喜欢就按个赞|点个在看|喜欢请点赞")
        + r".{0,20}$"
        + r"|"
        + _any("喜欢|觉得不错|觉得好看|如果喜欢")
        + r"[^。]{0,10}"
        + _any("在看|点赞|按个赞|点个赞|分享|转发|关注")
        + r"[^。]{0,10}$"
        + r"|.{0,10}"
        + zh("点击上方")
        + r".{0,16}"
        + _any("关注|订阅")
        + r".{0,20}$",
    ),
    (
        PAGE_TOOLS,
        r"[【\[]?\s*"
        + _any("字号|字体|打印本页|打印|关闭窗口|浏览次数|阅读量|阅读数|点击数|点击量|浏览量|阅读")
        + r"\s*[:：]?\s*(?:[大中小]|\d+|[\s【】\[\]|]|"
        + zh("次|打印|本页|本文|关闭|窗口|默认|字体|字号|收藏|分享")
        + r")*$",
    ),
)
# Patterns found anywhere in a line no longer than _SEARCH_MAX.
_ANYWHERE: tuple[tuple[Rule, str], ...] = (
    (
        PLACEHOLDER,
        zh("此处为")
        + _any("链接|连结|视频|图片|音频|影片")
        + "|"
        + _any("暂不支持采集|暂不支援采集|未采集|链接未抓取|图片加载中|视频加载中")
        + r"|[【\[]"
        + _any("图片|视频")
        + r"[】\]]",
    ),
    (
        LICENCE,
        r"ICP\s*[备证]|ICP[:：]|"
        + _any(
            "公网安备|网安备|增值电信业务经营许可证|新闻信息服务许可证|广播电视节目制作经营许可证"
            "|网站标识码|主办单位[:：]|承办单位[:：]|主管单位[:：]|技术支持[:：]"
            "|信息网络传播视听节目许可证|违法和不良信息举报|举报电话|举报邮箱|网络文化经营许可证"
        ),
    ),
    (
        COPYRIGHT,
        r"Copyright|COPYRIGHT|©|\(c\)\s*\d{4}|All Rights Reserved|"
        + _any(
            "版权所有|保留所有权利|本网站所刊载|本站所刊载|转载请注明出处|转载请注明来源"
            "|未经授权不得转载|未经授权禁止转载|未经本网授权|未经许可不得转载|禁止转载"
        ),
    ),
    (EDITOR, r"[【\[(（]\s*" + _any("责任编辑|责编|编辑") + r"\s*[:：]"),
    (
        DISCLAIMER,
        _any(
            "本文仅代表作者|不代表本网|不代表本站|如有侵权|凡本网注明|凡本网未注明|仅供参考,不构成"
            "|文章内容仅供参考"
        ),
    ),
)
_SEARCH_MAX = 240

_ANCHORED_RE = re.compile(
    "|".join(f"(?P<a{i}>{pattern})" for i, (_, pattern) in enumerate(_ANCHORED))
)
_ANYWHERE_RE = re.compile(
    "|".join(f"(?P<b{i}>{pattern})" for i, (_, pattern) in enumerate(_ANYWHERE))
)
_BY_GROUP = {f"a{i}": rule for i, (rule, _) in enumerate(_ANCHORED)} | {
    f"b{i}": rule for i, (rule, _) in enumerate(_ANYWHERE)
}

# Bars between short items: `关于我们(About Us) | 工作人员查询 | 免责声明 | 广告服务`.
_BAR = re.compile(r"\s*[|｜]\s*")
_ARROW = re.compile(r"\s*(?:>>|>|»|＞|→)\s*")
_BULLET = re.compile(r"^[-·•▪◆◇►▶]\s*")
_CREDIT_WORD = re.compile(zh("记者|通讯员|作者|撰文|摄影|编辑|实习生|[文图摄][/|丨:：]"))
_SENTENCE_MARK = re.compile(f"[{SENTENCE_END}，,；;]")
_ENDS_SENTENCE = re.compile(f"[{SENTENCE_END}][{CJK_PUNCT}”’」』）)】\\s]*$|[。]$")


def ends_sentence(text: str) -> bool:
    """True when the line ends like a sentence (`。`, `！`, `？`, possibly before a quote)."""
    return _ENDS_SENTENCE.search(text) is not None


def _is_bar(text: str) -> bool:
    items = [item for item in _BAR.split(text) if item]
    return len(items) >= 3 and max(map(len, items)) <= 16


def _is_trail(text: str) -> bool:
    # `人民网 >> 经济·科技 >> 正文`, `长江日报 > 武汉新闻`: short items between arrows.
    items = [item for item in _ARROW.split(text) if item]
    return (
        len(items) >= 2
        and max(map(len, items)) <= 14
        and _SENTENCE_MARK.search(text) is None
        and _ARROW.search(text) is not None
    )


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


def classify_lines(texts: list[str]) -> list[Rule | None]:
    """Furniture rules for a page's lines; items of a list under a list heading go too."""
    decided = [BLANK if not text else classify(text) for text in texts]
    in_list = False
    for index, text in enumerate(texts):
        rule = decided[index]
        if rule is RELATED:
            in_list = True
        elif not text:
            in_list = False
        elif in_list and rule is None and not ends_sentence(text):
            decided[index] = LIST_ITEM
    return decided


def classify(text: str) -> Rule | None:
    """The furniture rule a line (spaces collapsed) matches, or None for possible article text."""
    match = _ANCHORED_RE.match(text)
    if match is not None and match.lastgroup is not None:
        return _BY_GROUP[match.lastgroup]
    if len(text) <= _SEARCH_MAX:
        found = _ANYWHERE_RE.search(text)
        if found is not None and found.lastgroup is not None:
            return _BY_GROUP[found.lastgroup]
        if len(text) <= 80 and _is_trail(text):
            return BREADCRUMB
        if len(text) <= 120 and _is_bar(text):
            return NAVIGATION
        if " " in text and len(text) <= 60 and _is_menu(text):
            return NAVIGATION
        if len(text) <= 40 and _BULLET.match(text) and _SENTENCE_MARK.search(text) is None:
            return LIST_ITEM
    return None
