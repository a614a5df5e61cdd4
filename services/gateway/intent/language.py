"""Which language a reply is in, and the one normal form every rule reads."""
from __future__ import annotations

import re
import unicodedata

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[a-z]")
_EDGE_PUNCTUATION = " \t\r\n.,!?;:~。，！？；：、…'\"()[]"
# The opt-out codes of Chinese carriers (TD = 退订): whoever sends one reads Chinese.
_CHINESE_SHORT_CODES = {"td", "t", "r"}


def normalise(text: str) -> str:
    """Full-width forms folded (１５ → 15, ？ → ?), lower case, one space between words."""
    folded = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(folded.lower().split())


def bare(clean: str) -> str:
    """The normalised text without the punctuation around it: what a one-word reply really says."""
    return clean.strip(_EDGE_PUNCTUATION)


def language_of(clean: str) -> str:
    """zh-CN for anything with Chinese in it (or with no words at all), else en."""
    if _HAN.search(clean) or bare(clean) in _CHINESE_SHORT_CODES:
        return "zh-CN"
    return "en" if _LATIN.search(clean) else "zh-CN"


def is_short(clean: str, han: int = 12, words: int = 6) -> bool:
    """At most `han` Chinese characters (for Chinese text) or `words` words, punctuation aside."""
    text = re.sub(r"[\s.,!?;:~。，！？；：、…\"()]", " ", clean)
    if _HAN.search(text):
        return len(text.replace(" ", "")) <= han
    return len(text.split()) <= words
