"""What the gateway says back when an owner promises to pay without naming a day.

The source document's advice (杜绝拖): never accept "in a few days"; agree a date.
"""
from __future__ import annotations

_ASK_FOR_A_DAY = {
    "zh-CN": "收到，谢谢！请回复您具体哪一天缴费（例如：下周五、15号），我们会按这个日期跟进。",
    "en": "Thank you. Please reply with the exact day you will pay (for example: next Friday, "
          "or the 15th) and we will follow up on that day.",
}


def ask_for_a_day(language: str) -> str:
    """The auto-reply to a promise with no day, in the owner's language (zh-CN unless en)."""
    return _ASK_FOR_A_DAY.get(language, _ASK_FOR_A_DAY["zh-CN"])
