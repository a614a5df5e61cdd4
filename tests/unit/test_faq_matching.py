"""Matching an owner's question to the FAQ (收费答客问) without a segmenter, in Chinese and English."""
from __future__ import annotations

import pytest

from services.gateway.config import faq_match_threshold
from services.gateway.faq.entries import FaqEntry
from services.gateway.faq.matching import DEFAULT_THRESHOLD, answering, best_match
from services.gateway.faq.similarity import features, similarity
from services.gateway.faq.starter import STARTER_FAQ
from shared.config import ConfigError

ENTRIES = [FaqEntry(str(n), tuple(e["questions_zh"]), tuple(e["questions_en"]), e["answer_zh"], e["answer_en"])
           for n, e in enumerate(STARTER_FAQ)]
WHY_PAY, WHAT_IT_COVERS, HOW_TO_PAY, NOT_FIXED, HOW_MUCH = (e.id for e in ENTRIES)


@pytest.mark.parametrize("text, entry", [
    ("请问物业费都包括哪些服务？", WHAT_IT_COVERS),
    ("物业费包括什么呀", WHAT_IT_COVERS),
    ("你好，交的钱都用来干什么了？", WHAT_IT_COVERS),
    ("怎么交费", HOW_TO_PAY),  # 交 and 缴 are one
    ("如何缴纳物业费？", HOW_TO_PAY),  # 如何 is 怎么
    ("能用支付宝吗", HOW_TO_PAY),
    ("我都没住，物业费一定要交吗", WHY_PAY),
    ("我还欠多少钱啊", HOW_MUCH),
    ("How do I pay?", HOW_TO_PAY),
    ("what does the property fee cover", WHAT_IT_COVERS),
    ("WHY DO I HAVE TO PAY THE FEE", WHY_PAY),
    ("How much do I owe you?", HOW_MUCH),
])
def test_an_owners_question_is_answered_by_the_entry_that_asks_the_same(text, entry):
    match = answering(text, ENTRIES, DEFAULT_THRESHOLD)

    assert match is not None and match.entry.id == entry


@pytest.mark.parametrize("text", ["明年物业费会涨价吗？", "电梯什么时候修好", "为什么这么贵", "好的", "？？", "ok"])
def test_a_question_no_entry_asks_is_not_answered(text):
    assert answering(text, ENTRIES, DEFAULT_THRESHOLD) is None


def test_the_best_match_is_reported_even_below_the_threshold():
    match = best_match("为什么这么贵", ENTRIES)

    assert match is not None and match.entry.id == WHY_PAY and 0 < match.score < DEFAULT_THRESHOLD


def test_greetings_and_particles_do_not_count_towards_a_match():
    assert features("你好，请问物业费包括什么呢？") == features("物业费包括什么")
    assert similarity(features("谢谢你好"), features("你好谢谢")) == 0.0


def test_the_score_is_one_for_the_same_question_and_falls_as_they_differ():
    same = similarity(features("物业费包括什么"), features("物业费包括什么"))
    close = similarity(features("物业费包括什么"), features("物业费都包括哪些服务"))
    far = similarity(features("物业费包括什么"), features("怎么交物业费"))

    assert same == 1.0 and 1.0 > close > far > 0


def test_an_entry_without_an_answer_in_the_owners_language_gives_the_other_one():
    entry = FaqEntry("x", ("可以开发票吗",), (), "可以。", None)

    assert entry.answer_in("en") == ("可以。", "zh-CN") and entry.answer_in("zh-CN") == ("可以。", "zh-CN")


@pytest.mark.parametrize("raw, expected", [("", DEFAULT_THRESHOLD), ("0.7", 0.7), ("1", 1.0)])
def test_the_threshold_comes_from_the_environment(raw, expected):
    assert faq_match_threshold({"FAQ_MATCH_THRESHOLD": raw}) == expected


@pytest.mark.parametrize("raw", ["high", "0", "-0.2", "1.5"])
def test_a_threshold_that_is_not_between_0_and_1_stops_the_gateway(raw):
    with pytest.raises(ConfigError, match="FAQ_MATCH_THRESHOLD"):
        faq_match_threshold({"FAQ_MATCH_THRESHOLD": raw})
