"""Owners' questions across the services: the FAQ answers what it can, staff get the rest."""
from __future__ import annotations

import time
import uuid

import requests

from shared.auth import issue_token
from tests.e2e.conftest import SECRET
from tests.e2e.test_thin_slice import fresh_phone, get_case, open_case, wait_for
from tests.fakes.twilio_server import sign_and_post


def text(running, phone: str, body: str) -> None:
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": running.twilio.account_sid, "From": phone,
              "To": "+15005550006", "Body": body, "NumMedia": "0"}
    assert sign_and_post(f"{running.url('gateway')}/webhooks/twilio/sms", params,
                         running.twilio.auth_token).status_code == 200


def inbox(running) -> list[dict]:
    response = requests.get(f"{running.url('cases')}/api/v1/inbox", headers=running.auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_question_the_faq_answers_is_not_left_for_staff_and_one_it_does_not_is(running):
    manager = {"Authorization": f"Bearer {issue_token(SECRET, 'e2e-manager', 'manager', ['lakeside'])}"}
    entry = requests.post(f"{running.url('gateway')}/api/v1/faq", headers=manager, timeout=10, json={
        "questions_zh": ["可以开发票吗"], "answer_zh": "可以，缴费后到服务中心前台开具发票。"})
    assert entry.status_code == 201, entry.text
    phone = fresh_phone()
    case = open_case(running, phone, email=None)
    before = {item["id"] for item in inbox(running)}

    text(running, phone, "请问可以开发票吗？")
    text(running, phone, "明年物业费会涨价吗？")

    wait_for(lambda: get_case(running, case["id"]), lambda c: len(c["replies"]) == 2)
    waiting = wait_for(lambda: [i for i in inbox(running) if i["id"] not in before], lambda items: items)
    time.sleep(0.3)  # give a wrongly filed question every chance to appear
    waiting = [i for i in inbox(running) if i["id"] not in before]
    assert [(i["question"], i["case_id"], i["status"]) for i in waiting] == [
        ("明年物业费会涨价吗？", case["id"], "open")]
    answered = requests.post(f"{running.url('cases')}/api/v1/inbox/{waiting[0]['id']}/answered",
                             json={"note": "电话告知：暂无调价计划。"}, headers=running.auth, timeout=10)
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
