"""Character classes and whitespace tidying shared by the normalizer's rules."""

from __future__ import annotations

import re

# Han ideographs: BMP blocks plus the supplementary planes (rare surnames live there).
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# The BMP part alone: classes without astral ranges keep the regex engine's fast bitmap,
# which matters in patterns run on every line.
_HAN_BMP = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Chinese punctuation as pages print it, full-width forms and curly quotes included.
CJK_PUNCT = (
    "\u3001-\u3003\u3008-\u3011\u3014-\u301f\uff01-\uff0f\uff1a-\uff20"
    "\u2018-\u201d\u2014\u2026\u00b7"
)
# Text that reads as Chinese: ideographs and the punctuation that sits between them.
CJK = HAN + CJK_PUNCT
# Punctuation that ends a sentence, in both widths.
SENTENCE_END = "。！？!?…"
# Closing marks that may follow the sentence end (`。”`).
CLOSERS = "”’」』）)】"

# Simplified characters of the rule keywords and their Traditional forms. Derived once with
# OpenCC s2t, s2hk and s2tw (character level); tests/unit/test_normalize_rules.py checks that
# every ideograph in the rule modules is covered.
_VARIANT_GROUPS = (
    "与與 业業 东東 个個 为為爲 举舉 习習 于於 仅僅 们們 众眾衆 传傳 体體 关關 册冊 写寫 击擊 划劃"
    " 别別 制製 务務 华華 单單 参參 发發 台臺 号號 员員 国國 图圖 场場 声聲 处處 备備 实實 审審"
    " 对對 布佈 广廣 开開 当當 录錄 总總 户戶 扫掃 报報 摄攝 数數 时時 暂暫 机機 权權 条條 来來"
    " 标標 欢歡 汇匯 注註 济濟 浏瀏 点點 热熱 环環 电電 监監 码碼 筹籌 签籤 系繫 约約 终終 经經"
    " 结結 统統 续續 维維 编編 网網 联聯 荐薦 营營 蓝藍 见見 观觀 视視 览覽 计計 讯訊 记記 许許"
    " 论論 设設 证證 评評 识識 词詞 译譯 话話 请請 读讀 责責 资資 赏賞 赞讚贊 转轉 载載 辑輯 违違"
    " 邮郵 采採 链鏈 键鍵 长長 门門 闭閉 问問 间間 闻聞 阅閱閲 随隨 页頁 顶頂 顾顧 频頻 题題 处處"
    " 达達 该該 乐樂 气氣 领領 导導 讲講 师師 测測 试試 络絡 区區 县縣 广廣 图圖 闻聞 须須 层層"
    " 动動 态態 节節 头頭 现現 线線 纪紀 预預 览覽 击擊 释釋"
    " 万萬 专專 严嚴 乔喬 亿億 余餘 内內 冯馮 刘劉 创創 办辦 卢盧 卫衛衞 叶葉 后後 吕呂 吨噸"
    " 听聽 吴吳 复復 娄婁 娱娛 孙孫 宁寧 宫宮 岳嶽 峰峯 庄莊 应應 庞龐 张張 戶户 据據 无無 术術"
    " 杨楊 杰傑 栾欒 欧歐 汉漢 汤湯 涂塗 温溫 游遊 溫温 烟煙 独獨 画畫 畅暢 确確 种種 笔筆 纠糾"
    " 绘繪 综綜 罗羅 聂聶 苏蘇 范範 萧蕭 蒋蔣 衛衞 装裝 觉覺 订訂 认認 询詢 详詳 诸諸 谢謝 谭譚"
    " 财財 费費 贺賀 贾賈 赖賴 赵趙 车車 轩軒 辆輛 辕轅 边邊 连連 迟遲 邓鄧 邬鄔 邹鄒 郁鬱 郑鄭"
    " 钟鍾 钱錢 错錯 闫閆 闵閔 阎閻 阳陽 际際 陆陸 陈陳 韦韋 韩韓 项項 颜顏 馈饋 马馬 驻駐 骆駱"
    " 鲁魯 鲍鮑 麦麥 黄黃 齐齊 龙龍 龚龔 会會 儿兒 吗嗎 峯峰 栖棲 烫燙 爲為 臺台 衆眾 进進 锟錕"
    " 閱閲 属屬 规規 这這"
)
_VARIANTS: dict[str, str] = {}
for _group in _VARIANT_GROUPS.split():
    _VARIANTS[_group[0]] = _VARIANTS.get(_group[0], _group[0]) + "".join(
        ch for ch in _group[1:] if ch not in _VARIANTS.get(_group[0], "")
    )


def zh(pattern: str) -> str:
    """A regex written with Simplified keywords, widened to match their Traditional forms too."""
    out: list[str] = []
    in_class = False
    escaped = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            out.append(ch)
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        forms = _VARIANTS.get(ch)
        if forms is None:
            out.append(ch)
        elif in_class:
            out.append(forms)
        else:
            out.append(f"[{forms}]")
    return "".join(out)


def forms(word: str, limit: int = 64) -> list[str]:
    """`word` as written in Simplified and in its Traditional variants (literal strings).

    The word in one script comes first, then mixtures of the variants, as converters pick
    them by context (注 stays 注 in 關注 but becomes 註 in 註冊); `limit` caps the mixtures
    of long words, never the single-script forms.
    """
    options = [_VARIANTS.get(ch, ch) for ch in word]
    width = max(map(len, options), default=1)
    pure = ["".join(o[min(k, len(o) - 1)] for o in options) for k in range(width)]
    mixed = [""]
    for option in options:
        mixed = [head + ch for head in mixed for ch in option][:limit]
    return list(dict.fromkeys(pure + mixed))


_Trie = dict[str, "_Trie"]


def keyword_pattern(words: list[str], *, expand: bool = True) -> str:
    """A regex matching any of `words` (in every script form unless `expand=False`), as a trie.

    A flat alternation of a few hundred literals makes the engine try every branch at
    every candidate position (~3 us per line); sharing prefixes leaves one branch per
    distinct next character.
    """
    trie: _Trie = {}
    for word in words:
        for form in forms(word) if expand else [word]:
            node = trie
            for ch in form:
                node = node.setdefault(ch, {})
            node[""] = {}
    return _trie_pattern(trie)


def _trie_pattern(node: _Trie) -> str:
    branches = [re.escape(ch) + _trie_pattern(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    # A word may end here while longer ones go on: the end is the optional part.
    return f"(?:{body})?" if "" in node else body


_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")
_ODD_SPACE = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\x0b\x0c]+")
# Zero-width characters and the Unicode spaces other than U+3000, NBSP and tab.
_RARE_SPACE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad\u1680\u2000-\u200a\u202f\u205f\x0b\x0c]")
# Punctuation that closes or separates; a space after it before Chinese text, or before it
# after Chinese text, is stray. Opening quotes and brackets are left alone: in headings a
# space before them separates phrases (`聚人才 “三寶”引來眾點讚`).
_CLOSING = "，。、；：！？”’」』）】〕》,;:!?"
# Every pattern starts with the space itself and looks back after it: a leading lookbehind
# would be tried at every position of the page (~400 us per page instead of ~20).
_SPACE_AFTER_PUNCT = re.compile(f" (?<=[{_CLOSING}] ) *(?=[{CJK}])")
_SPACE_BEFORE_PUNCT = re.compile(f" (?<=[{CJK}] ) *(?=[{_CLOSING}])")
# A lone ideograph set off by spaces on both sides (`王 丕 君`, letter-spaced names) is a
# typesetting artefact; a space between two multi-character phrases (`非武不栖 进无止境`) is
# deliberate.
# All lookarounds see the original spacing, so `来 坐 一 会 儿` loses every space in one pass.
# Line breaks count as edges, so the patterns work on a whole page at once.
_LONE_SPACE = re.compile(
    f" (?<=[{_HAN_BMP}] )(?:(?<![^ \\n][{_HAN_BMP}] )(?=[{_HAN_BMP}])|(?=[{_HAN_BMP}](?:[ \\n]|$)))"
)


def has_rare_spaces(text: str) -> bool:
    """True when text holds zero-width characters or the rarer Unicode spaces (one scan)."""
    return _RARE_SPACE.search(text) is not None


def drop_zero_width(text: str) -> str:
    """Remove zero-width characters and soft hyphens, which only break matching."""
    return _ZERO_WIDTH.sub("", text)


def collapse_spaces(text: str, *, rare: bool = True) -> str:
    """Tabs, NBSP and ideographic spaces become single ASCII spaces; every line is stripped.

    Works on one line or a whole page. `rare=False` (from has_rare_spaces) skips the regex
    for the rarer spaces: plain str.replace runs ~10x faster than a regex pass.
    """
    if rare:
        text = _ODD_SPACE.sub(" ", text)
    for space in "\u3000\u00a0\t":
        if space in text:
            text = text.replace(space, " ")
    while "  " in text:
        text = text.replace("  ", " ")
    return text.replace(" \n", "\n").replace("\n ", "\n").strip(" ")


def tidy_spaces(text: str) -> str:
    """Remove stray spaces around Chinese punctuation and around lone ideographs."""
    if " " not in text:
        return text
    text = _SPACE_AFTER_PUNCT.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    return _LONE_SPACE.sub("", text)


def wide_count(text: str) -> int:
    """Number of characters at or above U+0800 (ideographs, CJK punctuation), counted in C."""
    return (len(text.encode("utf-8", "surrogatepass")) - len(text)) >> 1
