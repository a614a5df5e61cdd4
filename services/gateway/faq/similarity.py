"""How alike two short texts are, for Chinese without a word segmenter and for English.

Chinese is compared by character bigrams (两字组): "物业费包括什么" and "物业费都包括哪些服务" share
物业, 业费, 包括 whatever the segmentation would have been. English is compared by words, lightly
stemmed. A few synonyms that share no character (缴/交, 如何/怎么) are written one way. Greetings and particles (请问, 吗, "please", "the") are dropped first: they say nothing
about which question is asked. The score is the cosine of the two feature sets, 0 to 1.
"""
from __future__ import annotations

import math
import re
import unicodedata

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD = re.compile(r"[a-z0-9]+")
_ZH_FILLERS = ("请问", "你好", "您好", "谢谢", "麻烦", "一下")
_ZH_PARTICLES = re.compile(r"[的了吗呢吧啊呀哦嘛呐]")
# Ways of saying the same thing that share no characters: written the same before comparing.
_ZH_SAME = (("缴", "交"), ("如何", "怎么"), ("怎样", "怎么"), ("咋", "怎么"), ("哪里", "哪儿"), ("付款", "交费"))
_EN_STOPWORDS = frozenset((
    "a", "an", "the", "is", "are", "am", "was", "be", "do", "does", "did", "i", "me", "my", "you", "your", "we",
    "our", "us", "it", "its", "this", "that", "to", "of", "for", "in", "on", "at", "and", "or", "can", "could",
    "would", "should", "will", "please", "hi", "hello", "dear", "thanks", "thank", "there", "any", "some",
))


def features(text: str) -> frozenset[str]:
    """The bigrams and words a text is compared by."""
    clean = unicodedata.normalize("NFKC", text).lower()
    found: set[str] = set()
    for filler in _ZH_FILLERS:
        clean = clean.replace(filler, " ")
    for variant, usual in _ZH_SAME:
        clean = clean.replace(variant, usual)
    for run in _HAN_RUN.findall(_ZH_PARTICLES.sub(" ", clean)):
        found.update(run[i:i + 2] for i in range(len(run) - 1)) if len(run) > 1 else found.add(run)
    for word in _WORD.findall(clean):
        if word not in _EN_STOPWORDS:
            found.add("w:" + _stem(word))
    return frozenset(found)


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def similarity(left: frozenset[str], right: frozenset[str]) -> float:
    if not left or not right:
        return 0.0
    return len(left & right) / math.sqrt(len(left) * len(right))
