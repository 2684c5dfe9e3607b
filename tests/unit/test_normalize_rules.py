"""Tables for the normalizer's rules: dates, pinyin, spaces, joining, mojibake, furniture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache

import opencc
import pytest

from service.errors import BundleRejected, ReasonCode
from service.normalize import explain, normalize
from service.normalize.byline import parse_byline, parse_dateline, split_signature
from service.normalize.chars import collapse_spaces, forms, tidy_spaces, zh
from service.normalize.dates import find_bare_date, find_date, page_year, url_date
from service.normalize.mojibake import (
    has_garbage,
    repair_misaligned_gbk,
    repair_utf8_as_latin1,
)
from service.normalize.pinyin import is_syllable, strip_pinyin_notes
from service.normalize.rules import classify
from service.normalize.script import detect_script

pytestmark = pytest.mark.unit

CST = timezone(timedelta(hours=8))


@cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


PROSE = "会议指出,要坚持稳中求进工作总基调,完整准确全面贯彻新发展理念,推动高质量发展取得新成效。"


def _tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# --- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2023-10-25 09:47    青島日報", datetime(2023, 10, 25, 9, 47, tzinfo=CST)),
        ("发布时间:2024年3月5日 10:20", datetime(2024, 3, 5, 10, 20, tzinfo=CST)),
        ("2024/03/05", datetime(2024, 3, 5, tzinfo=CST)),
        ("2024.03.05 08:00:01", datetime(2024, 3, 5, 8, 0, 1, tzinfo=CST)),
        ("2024-03-05T02:20:00Z", datetime(2024, 3, 5, 2, 20, tzinfo=UTC)),
        ("2024-03-05 10:20 (UTC)", datetime(2024, 3, 5, 10, 20, tzinfo=UTC)),
        ("2024-03-05 10:20 GMT+9", datetime(2024, 3, 5, 10, 20, tzinfo=_tz(9))),
        ("2024-03-05 10:20:00 +0900", datetime(2024, 3, 5, 10, 20, tzinfo=_tz(9))),
        ("2024-03-05 10:20 UTC-5", datetime(2024, 3, 5, 10, 20, tzinfo=_tz(-5))),
        ("北京时间2024年3月5日下午3:20", datetime(2024, 3, 5, 15, 20, tzinfo=CST)),
        ("2024年2月30日", None),
        ("电话 1234-56-78", None),
        ("共有20240305人", None),
    ],
)
def test_find_date(line: str, expected: datetime | None) -> None:
    found = find_date(line)
    assert (found.resolve() if found else None) == expected


@pytest.mark.parametrize(
    ("line", "year", "expected"),
    [
        ("3月5日 10:20", 2024, datetime(2024, 3, 5, 10, 20, tzinfo=CST)),
        ("中新网常州11月9日电", 2024, datetime(2024, 11, 9, tzinfo=CST)),
        ("3月5日", None, None),
        ("2月29日", 2023, None),
    ],
)
def test_bare_dates_need_a_year(line: str, year: int | None, expected: datetime | None) -> None:
    found = find_bare_date(line)
    assert found is not None
    assert found.resolve(year) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://www.86hh.com/finance/cygs/2020-06-15/444392.html", (2020, 6, 15)),
        ("http://x.cn/edu/20200615/a.html", (2020, 6, 15)),
        ("http://x.cn/news/2020/0615/887.shtml", (2020, 6, 15)),
        ("http://www.news.cn/politics/2020-06/15/c_1126.htm", (2020, 6, 15)),
        ("http://x.gov.cn/art/t20200615_123.html", (2020, 6, 15)),
        ("http://x.cn/2020/13/45/a.html", None),
        ("http://2020-06-15.example.cn/a.html", None),
    ],
)
def test_url_date(url: str, expected: tuple[int, int, int] | None) -> None:
    found = url_date(url)
    assert ((found.year, found.month, found.day) if found else None) == expected


@pytest.mark.parametrize(
    ("texts", "year"),
    [
        (["江苏常州打造人才强磁场", "“非武不栖 进无止境”2024常州·武进人才周"], 2024),
        (["2020重慶英才大會海歸論壇圓滿落幕"], 2020),
        (["常州2024年前三季度经济数据显示"], 2024),
        (["到2035年基本实现", "有2000多人参加"], None),
        (["一场论坛", "2019年以来,论坛已举办五届。2024论坛在2024年11月开幕。"], 2024),
        (["2020重慶英才大會", "2024年的计划"], 2020),
        (["没有年份的一段话。"], None),
    ],
)
def test_page_year(texts: list[str], year: int | None) -> None:
    assert page_year(texts) == year


def test_bare_date_without_a_year_on_the_page_stays_unknown() -> None:
    page = normalize("城市公园迎来赏菊季\n\n本报讯 11月2日,城市公园菊花展开幕。\n\n" + PROSE)
    assert page.published_at is None


def test_bare_date_year_comes_from_the_page() -> None:
    page = normalize("城市公园迎来赏菊季\n11月2日 09:30\n\n2023城市公园菊花展开幕了。\n\n" + PROSE)
    assert page.published_at == datetime(2023, 11, 2, 9, 30, tzinfo=CST)


def test_page_date_line_beats_dates_in_the_body_and_lists() -> None:
    page = normalize(
        "市里召开会议\n2024-03-05 10:20\n\n2023年12月1日,会议回顾了去年工作。\n\n"
        + PROSE
        + "\n相关推荐\n2022-01-01 另一条新闻\n"
    )
    assert page.published_at == datetime(2024, 3, 5, 10, 20, tzinfo=CST)


# --- pinyin ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "count"),
    [
        ("青島廣發(fā)“求賢帖”", "青島廣發“求賢帖”", 1),
        ("創(chuàng)新創(chuàng)業(yè)", "創新創業", 3),
        ("中（zhōng）国（guó）", "中国", 2),
        ("政知道(微信ID:upolitics)还听到", "政知道(微信ID:upolitics)还听到", 0),
        ("各县(市)区", "各县(市)区", 0),
        ("提供保障。(李慧敏)", "提供保障。(李慧敏)", 0),
        ("关于我们(About Us)", "关于我们(About Us)", 0),
        ("咖啡馆(café)", "咖啡馆(café)", 0),
        ("心里(xīn lǐ)踏实", "心里(xīn lǐ)踏实", 0),
        ("的(de)", "的(de)", 0),
        ("Version (1.0)", "Version (1.0)", 0),
        ("的(de)是(shì)了(le)我(wǒ)他(tā)她(tā)說(shuō)", "的是了我他她說", 6),
    ],
)
def test_strip_pinyin_notes(text: str, expected: str, count: int) -> None:
    assert strip_pinyin_notes(text) == (expected, count)


@pytest.mark.parametrize(
    ("syllable", "valid"),
    [
        ("chuàng", True),
        ("lǜ", True),
        ("zhuāng", True),
        ("er", True),
        ("bu", True),
        ("café", False),
        ("pdf", False),
        ("about", False),
        ("xyz", False),
    ],
)
def test_is_syllable(syllable: str, valid: bool) -> None:
    assert is_syllable(syllable) is valid


# --- spaces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("在各地爭奪人才正酣之時, 歐美同學會", "在各地爭奪人才正酣之時,歐美同學會"),
        ("會議。 有關全國", "會議。有關全國"),
        ("共謀雙城經濟圈建設 推動經濟社會高品質發展", "共謀雙城經濟圈建設 推動經濟社會高品質發展"),
        ("11月8日,“非武不栖 进无止境”", "11月8日,“非武不栖 进无止境”"),
        ("聚人才 “三寶”引來眾點讚", "聚人才 “三寶”引來眾點讚"),
        ("王 丕 君 介紹", "王丕君介紹"),
        ("“下班后 来 坐 一 会 儿，特别放松。”", "“下班后来坐一会儿，特别放松。”"),
        ("城市书房 50 余家", "城市书房 50 余家"),
        ("使用 AI 技术", "使用 AI 技术"),
        ("文/陈静 图/吴昊", "文/陈静 图/吴昊"),
    ],
)
def test_tidy_spaces(text: str, expected: str) -> None:
    assert tidy_spaces(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u3000\u3000首行缩进", "首行缩进"),
        ("\u00a0\u00a0不换行空格\t制表", "不换行空格 制表"),
        ("多个   空格\u2003全角", "多个 空格 全角"),
        ("  一行  \n  二行  ", "一行\n二行"),
    ],
)
def test_collapse_spaces(text: str, expected: str) -> None:
    assert collapse_spaces(text) == expected


# --- paragraph joining and duplicates ----------------------------------------------------


def _body(*lines: str) -> str:
    return normalize("关于某事的报道标题\n\n" + "\n\n".join(lines)).body


@pytest.mark.parametrize("mark", ["，", ",", "、", "：", ":", "；", ";"])
def test_a_paragraph_broken_after_a_comma_like_mark_is_joined(mark: str) -> None:
    body = _body(f"会议要求各地压实责任{mark}", "做好物资储备和人员转移预案。", PROSE)
    assert body.startswith(f"会议要求各地压实责任{mark}做好物资储备和人员转移预案。\n\n")


def test_an_enumeration_after_a_colon_is_not_joined() -> None:
    body = _body("会议明确了三项重点任务：", "一是加强监测预警；", "二是强化应急值守。", PROSE)
    assert body.startswith("会议明确了三项重点任务：\n\n一是加强监测预警；\n\n二是强化应急值守。")


def test_repeated_paragraphs_are_kept_once() -> None:
    page = normalize("标题在这里的一篇报道\n\n" + "\n\n".join([PROSE, "第二段话。", PROSE]))
    assert page.body.count(PROSE) == 1
    assert "duplicate_paragraphs_removed" in page.flags


# --- mojibake ----------------------------------------------------------------------------


def test_misaligned_gbk_golden_example() -> None:
    report = repair_misaligned_gbk("共享時代機遇?!闭\ue431缗c會嘉賓在致辭中所言,")
    assert report.text == "共享時代機遇。”正如與會嘉賓在致辭中所言,"
    assert (report.detected, report.repaired) == (1, 1)


def test_a_lost_character_is_restored_from_the_pages_own_pinyin_notes() -> None:
    text = "落戶嶗山?!皠?chuàng)新需要以人才為引領。創(chuàng)業"
    report = repair_misaligned_gbk(text)
    assert report.text.startswith("落戶嶗山。“創新需要")


@pytest.mark.parametrize(
    "text", ["真的吗?!我不信。", "你好吗?我很好", "What?! No.", "A?B", "用AI生成的图片有著作权吗?"]
)
def test_legitimate_question_marks_are_left_alone(text: str) -> None:
    assert repair_misaligned_gbk(text).text == text


def test_utf8_read_as_latin1_is_repaired() -> None:
    garbled = "中国市场".encode().decode("latin-1")
    assert repair_utf8_as_latin1(f"{garbled}新闻") == ("中国市场新闻", 1)
    assert repair_utf8_as_latin1("café résumé") == ("café résumé", 0)


@pytest.mark.parametrize(
    ("text", "garbage"),
    [("正常的文字", False), ("私用\ue431区", True), ("替换\ufffd字符", True), ("锟斤拷", True)],
)
def test_has_garbage(text: str, garbage: bool) -> None:
    assert has_garbage(text) is garbage


def test_private_use_characters_flag_the_page() -> None:
    page = normalize("一篇报道的标题\n\n" + PROSE.replace("推动", "推\ue000动"))
    assert "mojibake" in page.flags
    assert "mojibake_repaired" not in page.flags


# --- furniture ---------------------------------------------------------------------------

FURNITURE = [
    ("您的位置:首页>科技>正文", "breadcrumb"),
    ("当前位置：首页 > 会展频道 > 产业公司 > 正文", "breadcrumb"),
    ("人民网 >> 经济·科技 >> 正文", "breadcrumb"),
    ("青岛新闻APP", "app_prompt"),
    ("打开", "app_prompt"),
    ("打开APP阅读全文", "app_prompt"),
    ("首页 | 时政 | 国际 | 财经 | 体育", "navigation"),
    ("首页 新闻 体育 财经 娱乐", "navigation"),
    ("上一篇：我市新增三处口袋公园", "prev_next"),
    ("下一篇", "prev_next"),
    ("Next Article", "prev_next"),
    ("相关推荐", "related_list"),
    ("- 热门推荐", "related_list"),
    ("精彩推荐", "related_list"),
    ("最新评论", "comments"),
    ("文明上网理性发言，请遵守新闻评论服务协议", "comments"),
    ("责任编辑：王璐", "editor_line"),
    ("校对|项战", "editor_line"),
    ("【纠错】 【责任编辑：周敏】", "editor_line"),
    ("本文地址:http://www.86hh.com/finance/cygs/2020-06-15/444392.html", "article_url"),
    ("Copyright © 2009 - 2019 黄淮网(WWW.86HH.COM). All Rights Reserved", "copyright"),
    ("版权所有 本网站 未经授权禁止转载", "copyright"),
    ("苏ICP备18039698号-1 苏公网安备 32031102000168号", "licence"),
    ("联系地址:江苏省徐州市泉山区西都大厦4层", "contact"),
    ("地址：某市人民路88号 电话：0000-12345678 邮编：100000", "contact"),
    ("声明：该文观点仅代表作者本人，搜狐号系信息发布平台", "disclaimer"),
    ("黄淮网法律顾问:江苏淮海明镜律师事务所 田原主任", "contact"),
    ("免责声明 责任编辑:管理员", "disclaimer"),
    ("文章关键词:", "keywords"),
    ("扫描关注黄淮网微信公众号,第一时间获取更多精彩内容。", "follow_prompt"),
    ("阅读原文", "follow_prompt"),
    ("长按二维码关注我们", "follow_prompt"),
    ("分享到：", "share_prompt"),
    ("喜欢就按个赞吧!!!", "share_prompt"),
    ("点击上方蓝字关注我们", "share_prompt"),
    ("点击关闭提示", "ui_word"),
    ("举报/反馈", "ui_word"),
    ("返回搜狐，查看更多", "related_list"),
    ("【字体：大 中 小】【打印本页】【关闭窗口】", "page_tools"),
    ("原文中此處為連結, 暫不支援採集", "placeholder"),
    ("【此处为视频，暂不支持采集】", "placeholder"),
    ("(完)", "end_marker"),
    ("-END-", "end_marker"),
    ("-", "separator"),
]


@pytest.mark.parametrize(("line", "rule"), FURNITURE)
def test_furniture(line: str, rule: str) -> None:
    found = classify(tidy_spaces(collapse_spaces(line)))
    assert found is not None
    assert found.name == rule


@pytest.mark.parametrize(("line", "rule"), FURNITURE)
def test_furniture_in_traditional_script(line: str, rule: str) -> None:
    traditional = _converter("s2t").convert(line)
    found = classify(tidy_spaces(collapse_spaces(traditional)))
    assert found is not None
    assert found.name == rule


@pytest.mark.parametrize(
    "line",
    ["增值電信業務經營許可證:蘇B2-20140236", "增值电信业务经营许可證", "版權所有 © 2024"],
)
def test_keywords_in_any_mixture_of_scripts(line: str) -> None:
    assert classify(line) is not None


@pytest.mark.parametrize(
    "line",
    [
        PROSE,
        "工业“挑大梁”科创“唱主角”",
        "共謀雙城經濟圈建設 推動經濟社會高品質發展",
        "记者拨打了该店电话:对方表示已经停业。",
        "上一篇文章中我们提到,今年的经济形势依然复杂。",
        "分享会上,专家们表示要进一步加强合作交流。",
        "市民可通过扫码下载相关应用程序办理业务,十分便捷高效,受到广泛欢迎。",
        "他未经授权擅自使用他人作品,被法院判决赔偿损失。",
        "地址：市民中心二楼服务大厅",
        "咨询电话：0000-12345678",
        "声明：本公司将依法维护自身权益。",
        "成都的夜晚",
    ],
)
def test_article_lines_are_not_furniture(line: str) -> None:
    assert classify(line) is None


@pytest.mark.parametrize(
    "word",
    [
        "责任编辑",
        "相关推荐",
        "热门推荐",
        "最新评论",
        "当前位置",
        "扫描关注",
        "阅读原文",
        "长按二维码",
        "点击关闭提示",
        "本文地址",
        "联系地址",
        "发布时间",
        "来源",
        "原标题",
        "记者",
        "通讯员",
        "摄影",
        "公网安备",
        "版权所有",
        "免责声明",
        "此处为链接",
        "暂不支持采集",
        "上一篇",
        "下一篇",
        "打开",
    ],
)
def test_keyword_variants_cover_opencc_traditional(word: str) -> None:
    import re

    for config in ("s2t", "s2hk", "s2tw"):
        converted = _converter(config).convert(word)
        assert re.fullmatch(zh(word), converted), (config, converted)
        assert converted in forms(word) or re.fullmatch(zh(word), converted)


def test_variant_table_covers_every_ideograph_of_the_rules() -> None:
    """Each character a rule is written with has every Traditional form OpenCC gives it."""
    import re
    from pathlib import Path

    import service.normalize as package
    from service.normalize.chars import _VARIANTS

    folder = Path(package.__file__).parent
    source = "".join(path.read_text("utf-8") for path in folder.glob("*.py"))
    missing = set()
    for config in ("s2t", "s2hk", "s2tw"):
        converter = _converter(config)
        for char in set(re.findall("[\u4e00-\u9fff]", source)):
            converted = converter.convert(char)
            if len(converted) == 1 and converted not in _VARIANTS.get(char, char):
                missing.add(char + converted)
    assert not missing, " ".join(sorted(missing))


# --- bylines, datelines, signatures ------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "authors", "source"),
    [
        ("撰文|周宇", ("周宇",), None),
        ("撰文丨周宇", ("周宇",), None),
        ("◎徐报融媒记者 范海杰", ("范海杰",), "徐报融媒"),
        ("中新网记者 唐娟", ("唐娟",), "中新网"),
        ("青島日報/觀海新聞記者 衣濤/文 邢志峰/圖", ("衣濤", "邢志峰"), "青島日報"),
        ("文/张三 图/李四", ("张三", "李四"), None),
        ("本报记者 张三 李四 通讯员 王五", ("张三", "李四", "王五"), None),
        ("作者:张三", ("张三",), None),
        ("记者 张三 报道", ("张三",), None),
        ("文丨王五 编辑丨赵六", ("王五",), None),
        ("新华社记者 张三、李四", ("张三", "李四"), "新华社"),
        ("编辑 张三", (), None),
    ],
)
def test_parse_byline(line: str, authors: tuple[str, ...], source: str | None) -> None:
    credit = parse_byline(line)
    assert credit is not None
    assert credit.authors == authors
    assert credit.source == source


@pytest.mark.parametrize("line", ["在各地爭奪人才正酣之時", "记者从市委获悉", PROSE, "成都的夜晚"])
def test_not_a_byline(line: str) -> None:
    assert parse_byline(line) is None


@pytest.mark.parametrize(
    ("paragraph", "outlet", "place", "month_day", "authors", "rest"),
    [
        ("中新网常州11月9日电 题:江苏常州打造人才强磁场", "中新网", "常州", (11, 9), (), ""),
        (
            "中國網10月26日訊 兩大活動,“線上+線下”",
            "中國網",
            None,
            (10, 26),
            (),
            "兩大活動,“線上+線下”",
        ),
        (
            "新华社北京3月5日电(记者 张三 李四)3月5日上午,",
            "新华社",
            "北京",
            (3, 5),
            ("张三", "李四"),
            "3月5日上午,",
        ),
        ("新华社烟台3月5日电 ", "新华社", "烟台", (3, 5), (), ""),
        ("本报北京3月5日电 天气晴好。", None, "北京", (3, 5), (), "天气晴好。"),
    ],
)
def test_parse_dateline(  # noqa: PLR0917 - one parameter per column of the table
    paragraph: str,
    outlet: str | None,
    place: str | None,
    month_day: tuple[int, int],
    authors: tuple[str, ...],
    rest: str,
) -> None:
    dateline = parse_dateline(paragraph)
    assert dateline is not None
    assert (dateline.outlet, dateline.place) == (outlet, place)
    assert (dateline.month, dateline.day) == month_day
    assert dateline.authors == authors
    assert dateline.rest.strip() == rest.strip()


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("提供有力人才保障。(李慧敏)", ("提供有力人才保障。", ("李慧敏",), True)),
        ("打造高地。(记者 王五)", ("打造高地。", ("王五",), True)),
        ("发展。(编辑 张三)", ("发展。", (), True)),
        ("各县(市)", ("各县(市)", (), False)),
        ("会在(上海)", ("会在(上海)", (), False)),
        ("政知道(微信ID:upolitics)", ("政知道(微信ID:upolitics)", (), False)),
    ],
)
def test_split_signature(paragraph: str, expected: tuple[str, tuple[str, ...], bool]) -> None:
    assert split_signature(paragraph) == expected


# --- title block, script, explain ---------------------------------------------------------


def test_title_subtitle_and_byline() -> None:
    page = normalize(
        "当前位置：首页 > 新闻\n\n一座老城的新生\n\n——记老城区改造三年间\n\n记者 王五\n\n" + PROSE
    )
    assert page.title == "一座老城的新生"
    assert page.subtitle == "记老城区改造三年间"
    assert page.authors == ("王五",)
    assert page.section == "新闻"
    assert page.body == PROSE


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("全国两会代表委员热议科技自立自强_新闻频道_央视网", "全国两会代表委员热议科技自立自强"),
        ("某地举行活动 - 新华网", "某地举行活动"),
        ("全国两会｜代表委员热议", "全国两会｜代表委员热议"),
    ],
)
def test_site_names_after_the_title_are_dropped(title: str, expected: str) -> None:
    assert normalize(f"{title}\n\n{PROSE}").title == expected


def test_source_takes_the_outlet_before_a_dash() -> None:
    page = normalize(f"某地举行活动\n来源：人民网-人民日报\n\n{PROSE}")
    assert page.source == "人民网"


def test_a_heading_under_a_bare_title_stays_in_the_body() -> None:
    page = normalize("一座老城的新生\n\n改造篇\n\n" + PROSE)
    assert page.subtitle is None
    assert page.body.startswith("改造篇\n\n")


def test_no_title_line() -> None:
    page = normalize(PROSE + "\n\n" + PROSE.replace("会议", "大会"))
    assert page.title == ""
    assert page.body.startswith(PROSE)


@pytest.mark.parametrize(
    ("text", "script"),
    [(PROSE, "zh-Hans"), (_converter("s2t").convert(PROSE), "zh-Hant"), ("ASCII only.", "zh-Hans")],
)
def test_detect_script(text: str, script: str) -> None:
    assert detect_script(text) == script


@pytest.mark.parametrize(
    "text",
    [
        "首页\n新闻\n体育\n登录\n注册\n关于我们 | 联系我们 | 网站地图\nCopyright © 2024",
        "相关推荐\n新闻标题一\n新闻标题二\n新闻标题三",
        "一个像标题的长一点的导航栏目\n体育新闻\n财经要闻\n国际观察\n社会热点\n图片频道",
        "\n\n\n",
    ],
)
def test_navigation_only_is_no_article(text: str) -> None:
    with pytest.raises(BundleRejected) as caught:
        normalize(text)
    assert caught.value.reason == ReasonCode.NO_ARTICLE


def test_explain_names_a_rule_for_every_line() -> None:
    text = (
        "您的位置:首页>新闻\n\n一篇报道的标题\n记者 王五\n"
        + PROSE
        + "\n(完)\n责任编辑:赵六\n相关推荐\n别的新闻"
    )
    decisions = explain(text)
    assert [d.rule for d in decisions] == [
        "breadcrumb",
        "blank",
        "title",
        "byline",
        "content",
        "end_marker",
        "editor_line",
        "related_list",
        "list_item",
    ]
    by_rule = {d.rule: d for d in decisions}
    assert by_rule["content"].kept
    assert not by_rule["title"].kept
    assert all(d.reason for d in decisions)


def test_explain_works_on_pages_without_an_article() -> None:
    decisions = explain("首页\n登录\n注册")
    assert [d.kept for d in decisions] == [False, False, False]
