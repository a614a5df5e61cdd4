"""Owners' texts answered across the services: a promise is acknowledged with its date, a vague one is
asked for a day, and STOP is confirmed once and silences everything else."""
from __future__ import annotations

import time

from tests.e2e.test_owner_questions import text
from tests.e2e.test_thin_slice import fresh_phone, get_case, open_case, wait_for


def texts_to(running, phone: str) -> list[str]:
    return [m["Body"] for m in running.twilio.requests if m.get("To") == phone]


def test_a_promise_by_text_is_acknowledged_with_its_date_and_a_vague_one_is_asked_for_a_day(running):
    promising, vague = fresh_phone(), fresh_phone()
    open_case(running, promising, email=None)
    open_case(running, vague, email=None)
    reminded = wait_for(lambda: (texts_to(running, promising), texts_to(running, vague)), lambda t: all(t))

    text(running, promising, "下周五交")
    text(running, vague, "过几天交")

    answers = wait_for(lambda: (texts_to(running, promising)[len(reminded[0]):],
                                texts_to(running, vague)[len(reminded[1]):]), lambda t: all(t))
    assert len(answers[0]) == 1 and answers[0][0].startswith("【物业服务中心】我们已记录您承诺于")
    assert "缴纳物业费" in answers[0][0] and answers[0][0].endswith("回复TD退订")
    assert len(answers[1]) == 1 and "请问您具体哪一天可以缴纳" in answers[1][0]


def test_stop_is_confirmed_once_and_nothing_else_follows(running):
    phone = fresh_phone()
    case = open_case(running, phone, email=None)
    before = len(wait_for(lambda: texts_to(running, phone), lambda t: t))

    text(running, phone, "TD")
    wait_for(lambda: texts_to(running, phone)[before:], lambda t: t)
    text(running, phone, "退订")
    text(running, phone, "帮助")
    wait_for(lambda: get_case(running, case["id"]), lambda c: len(c["replies"]) == 3)
    time.sleep(1.0)  # give a second confirmation or the help text every chance to go out

    [confirmation] = texts_to(running, phone)[before:]
    assert "您已退订短信通知" in confirmation and "回复TD退订" not in confirmation
