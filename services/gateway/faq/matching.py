"""Which FAQ entry answers an owner's question, and how sure we are."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from services.gateway.faq.entries import FaqEntry
from services.gateway.faq.similarity import features, similarity

DEFAULT_THRESHOLD = 0.5  # below this, the question goes to the staff inbox instead
# The FAQ's own questions are compared with every owner's question: their features are worked
# out once (an edited question is a new string, so it is never served stale).
_question_features = lru_cache(maxsize=4096)(features)


@dataclass(frozen=True)
class FaqMatch:
    entry: FaqEntry
    score: float
    question: str  # the variant that matched best


def best_match(text: str, entries: list[FaqEntry]) -> FaqMatch | None:
    """The entry with the question variant most like `text` (ties: the older entry); None if none is alike."""
    asked = features(text)
    best: FaqMatch | None = None
    for entry in entries:
        for question in entry.questions:
            score = similarity(asked, _question_features(question))
            if score > 0 and (best is None or score > best.score):
                best = FaqMatch(entry, round(score, 4), question)
    return best


def answering(text: str, entries: list[FaqEntry], threshold: float) -> FaqMatch | None:
    """The best match if it is good enough to send to the owner."""
    match = best_match(text, entries)
    return match if match is not None and match.score >= threshold else None
